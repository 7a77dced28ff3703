//! The comparison table (text and Markdown) and its JSON form.

use serde_json::{json, Value};

use crate::servers::Kind;
use crate::workload::{Cell, MetricDef, Results};

pub type ServerOutcome = Option<Result<(Results, f64, String), String>>;

pub struct Row {
    pub key: &'static str,
    pub label: String,
    pub unit: &'static str,
    pub higher_is_better: bool,
    pub dovecot: Option<Cell>,
    pub eider: Option<Cell>,
}

impl Row {
    /// Eider ÷ Dovecot.
    pub fn ratio(&self) -> Option<f64> {
        let d = self.dovecot.as_ref()?.value.as_ref().ok()?;
        let e = self.eider.as_ref()?.value.as_ref().ok()?;
        (*d > 0.0 && e.is_finite()).then(|| e / d)
    }

    /// How many times better (>1) or worse (<1) Eider is.
    pub fn advantage(&self) -> Option<f64> {
        let r = self.ratio()?;
        Some(if self.higher_is_better { r } else { 1.0 / r })
    }

    pub fn verdict(&self) -> String {
        match self.advantage() {
            None => String::new(),
            Some(a) if a.is_infinite() => "better (0)".into(),
            Some(a) if a >= 1.0 => format!("{:.1}× better", a),
            Some(a) => {
                let worse = 1.0 / a;
                let flag = if worse > 1.5 { "  ⚠" } else { "" };
                format!("{worse:.1}× worse{flag}")
            }
        }
    }
}

pub struct Report {
    meta: Value,
    rows: Vec<Row>,
    servers: Vec<(Kind, Value)>,
}

fn fmt_value(v: f64) -> String {
    if !v.is_finite() {
        return "-".into();
    }
    let a = v.abs();
    if a >= 1000.0 {
        format!("{v:.0}")
    } else if a >= 100.0 {
        format!("{v:.1}")
    } else if a >= 1.0 {
        format!("{v:.2}")
    } else {
        format!("{v:.3}")
    }
}

fn fmt_cell(c: &Option<Cell>) -> String {
    match c {
        None => "skipped".into(),
        Some(Cell { value: Ok(v), .. }) => fmt_value(*v),
        Some(Cell { value: Err(e), .. }) if e == "n/a" => "n/a".into(),
        Some(Cell { value: Err(e), .. }) => {
            let short: String = e.chars().take(48).collect();
            format!("error: {short}")
        }
    }
}

impl Report {
    pub fn new(meta: Value, defs: &[MetricDef], results: &[(Kind, ServerOutcome)]) -> Self {
        let find = |kind: Kind, key: &str| -> Option<Cell> {
            let (_, outcome) = results.iter().find(|(k, _)| *k == kind)?;
            match outcome.as_ref()? {
                Ok((r, _, _)) => r.get(key).cloned(),
                Err(e) => Some(Cell {
                    value: Err(format!("server did not start: {e}")),
                    details: Value::Null,
                }),
            }
        };
        let rows = defs
            .iter()
            .map(|d| Row {
                key: d.key,
                label: d.label.clone(),
                unit: d.unit,
                higher_is_better: d.higher_is_better,
                dovecot: find(Kind::Dovecot, d.key),
                eider: find(Kind::Eider, d.key),
            })
            .collect();
        let servers = results
            .iter()
            .map(|(k, o)| {
                let v = match o {
                    None => json!({"skipped": true}),
                    Some(Ok((_, secs, tail))) => json!({"seconds": secs, "log_tail": tail}),
                    Some(Err(e)) => json!({"error": e}),
                };
                (*k, v)
            })
            .collect();
        Self {
            meta,
            rows,
            servers,
        }
    }

    fn lines(&self) -> Vec<[String; 5]> {
        self.rows
            .iter()
            .map(|r| {
                [
                    format!("{} ({})", r.label, r.unit),
                    fmt_cell(&r.dovecot),
                    fmt_cell(&r.eider),
                    r.ratio().map(fmt_value).unwrap_or_default(),
                    r.verdict(),
                ]
            })
            .collect()
    }

    const HEAD: [&'static str; 5] = ["metric", "Dovecot", "Eider", "ratio E/D", "Eider is"];

    pub fn table(&self) -> String {
        let lines = self.lines();
        let mut w = Self::HEAD.map(|h| h.chars().count());
        for l in &lines {
            for (i, c) in l.iter().enumerate() {
                w[i] = w[i].max(c.chars().count());
            }
        }
        let pad = |s: &str, n: usize, right: bool| {
            let fill = " ".repeat(n.saturating_sub(s.chars().count()));
            if right {
                format!("{fill}{s}")
            } else {
                format!("{s}{fill}")
            }
        };
        let row = |cells: [&str; 5]| {
            cells
                .iter()
                .enumerate()
                .map(|(i, c)| pad(c, w[i], i > 0 && i < 4))
                .collect::<Vec<_>>()
                .join("  ")
        };
        let mut out = String::new();
        out.push_str(&row(Self::HEAD));
        out.push('\n');
        out.push_str(&"-".repeat(w.iter().sum::<usize>() + 8));
        out.push('\n');
        for l in &lines {
            out.push_str(&row([&l[0], &l[1], &l[2], &l[3], &l[4]]));
            out.push('\n');
        }
        out.push_str(&self.notes());
        out
    }

    fn notes(&self) -> String {
        let mut out = String::new();
        for r in &self.rows {
            for (name, c) in [("Dovecot", &r.dovecot), ("Eider", &r.eider)] {
                if let Some(c) = c {
                    if let Some(m) = c.details.get("mismatch").and_then(Value::as_str) {
                        out.push_str(&format!("note: {name}, {}: {m}\n", r.label));
                    }
                    if let Err(e) = &c.value {
                        if e != "n/a" {
                            out.push_str(&format!("error: {name}, {}: {e}\n", r.label));
                        }
                    }
                }
            }
        }
        out
    }

    pub fn markdown(&self) -> String {
        let mut out = String::new();
        out.push_str(
            "| metric | Dovecot | Eider | ratio E/D | Eider is |\n|---|---:|---:|---:|---|\n",
        );
        for l in self.lines() {
            out.push_str(&format!(
                "| {} | {} | {} | {} | {} |\n",
                l[0].replace('|', "\\|"),
                l[1].replace('|', "\\|"),
                l[2].replace('|', "\\|"),
                l[3],
                l[4]
            ));
        }
        let notes = self.notes();
        if !notes.is_empty() {
            out.push('\n');
            for n in notes.lines() {
                out.push_str(&format!("- {n}\n"));
            }
        }
        out
    }

    pub fn json(&self) -> Value {
        let cell = |c: &Option<Cell>| match c {
            None => json!({"skipped": true}),
            Some(Cell {
                value: Ok(v),
                details,
            }) => json!({"value": v, "details": details}),
            Some(Cell {
                value: Err(e),
                details,
            }) => json!({"error": e, "details": details}),
        };
        json!({
            "meta": self.meta,
            "servers": self.servers.iter().map(|(k, v)| (k.name().to_string(), v.clone())).collect::<serde_json::Map<_, _>>(),
            "metrics": self.rows.iter().map(|r| json!({
                "key": r.key,
                "label": r.label,
                "unit": r.unit,
                "higher_is_better": r.higher_is_better,
                "dovecot": cell(&r.dovecot),
                "eider": cell(&r.eider),
                "ratio_eider_over_dovecot": r.ratio(),
                "eider_advantage": r.advantage(),
            })).collect::<Vec<_>>(),
        })
    }
}
