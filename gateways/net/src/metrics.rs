//! Process-wide metrics in the Prometheus text format (GET /metrics).
//!
//! A small hand-written registry rather than a crate: Eider needs counters, gauges
//! read at scrape time and one histogram shape, all with a few labels, and every
//! layer (listeners here, the service, the HTTP API) records into the same process
//! registry without threading a handle through. Series are created on first use and
//! live for the process; a label value is always a short name chosen by the code
//! (protocol, command verb, result), never client input, so the set stays bounded.
//!
//! Registration seam: [`register_gauge`] adds a gauge read by a callback at scrape
//! time (e.g. an outbound queue's depth); [`render`] writes everything.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

type Labels = Vec<(&'static str, String)>;

/// Upper bounds (seconds) of the latency histograms' buckets.
const BUCKETS: [f64; 14] = [
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

#[derive(Default)]
struct Histogram {
    buckets: [AtomicU64; BUCKETS.len()],
    count: AtomicU64,
    /// Sum in nanoseconds.
    sum_ns: AtomicU64,
}

enum Series {
    Counter(Arc<AtomicU64>),
    Histogram(Arc<Histogram>),
}

struct Family {
    help: &'static str,
    kind: &'static str,
    series: BTreeMap<Labels, Series>,
}

type GaugeFn = Box<dyn Fn() -> Vec<(Labels, f64)> + Send + Sync>;

struct GaugeFamily {
    help: &'static str,
    read: Vec<GaugeFn>,
}

#[derive(Default)]
struct Registry {
    families: Mutex<BTreeMap<&'static str, Family>>,
    gauges: Mutex<BTreeMap<&'static str, GaugeFamily>>,
}

fn registry() -> &'static Registry {
    static R: OnceLock<Registry> = OnceLock::new();
    R.get_or_init(Registry::default)
}

fn labels(pairs: &[(&'static str, &str)]) -> Labels {
    pairs.iter().map(|(k, v)| (*k, v.to_string())).collect()
}

/// The counter `name{labels}` (created at zero on first use). Keep the handle when
/// the labels are fixed: adding to it is one atomic operation.
pub fn counter(
    name: &'static str,
    help: &'static str,
    pairs: &[(&'static str, &str)],
) -> Arc<AtomicU64> {
    let mut families = registry()
        .families
        .lock()
        .unwrap_or_else(|e| e.into_inner());
    let family = families.entry(name).or_insert_with(|| Family {
        help,
        kind: "counter",
        series: BTreeMap::new(),
    });
    match family
        .series
        .entry(labels(pairs))
        .or_insert_with(|| Series::Counter(Arc::default()))
    {
        Series::Counter(c) => c.clone(),
        // A name is one kind for the whole program; a mix-up is counted nowhere.
        Series::Histogram(_) => Arc::default(),
    }
}

/// Add one to the counter `name{labels}`.
pub fn inc(name: &'static str, help: &'static str, pairs: &[(&'static str, &str)]) {
    counter(name, help, pairs).fetch_add(1, Ordering::Relaxed);
}

/// Record one observation of the latency histogram `name{labels}`.
pub fn observe(
    name: &'static str,
    help: &'static str,
    pairs: &[(&'static str, &str)],
    took: Duration,
) {
    let h = {
        let mut families = registry()
            .families
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        let family = families.entry(name).or_insert_with(|| Family {
            help,
            kind: "histogram",
            series: BTreeMap::new(),
        });
        match family
            .series
            .entry(labels(pairs))
            .or_insert_with(|| Series::Histogram(Arc::default()))
        {
            Series::Histogram(h) => h.clone(),
            Series::Counter(_) => return,
        }
    };
    let secs = took.as_secs_f64();
    for (i, bound) in BUCKETS.iter().enumerate() {
        if secs <= *bound {
            h.buckets[i].fetch_add(1, Ordering::Relaxed);
        }
    }
    h.count.fetch_add(1, Ordering::Relaxed);
    h.sum_ns.fetch_add(
        u64::try_from(took.as_nanos()).unwrap_or(u64::MAX),
        Ordering::Relaxed,
    );
}

/// Add a gauge whose values are read by `read` at every scrape: (label pairs, value)
/// per series. Several callbacks may feed one name (e.g. one per listener).
pub fn register_gauge(
    name: &'static str,
    help: &'static str,
    read: impl Fn() -> Vec<(Vec<(&'static str, String)>, f64)> + Send + Sync + 'static,
) {
    let mut gauges = registry().gauges.lock().unwrap_or_else(|e| e.into_inner());
    gauges
        .entry(name)
        .or_insert_with(|| GaugeFamily {
            help,
            read: Vec::new(),
        })
        .read
        .push(Box::new(read));
}

fn escape(v: &str) -> String {
    v.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

fn label_text(labels: &Labels, extra: Option<(&str, &str)>) -> String {
    let mut parts: Vec<String> = labels
        .iter()
        .map(|(k, v)| format!("{k}=\"{}\"", escape(v)))
        .collect();
    if let Some((k, v)) = extra {
        parts.push(format!("{k}=\"{v}\""));
    }
    if parts.is_empty() {
        String::new()
    } else {
        format!("{{{}}}", parts.join(","))
    }
}

/// Every metric in the Prometheus text exposition format (version 0.0.4).
pub fn render() -> String {
    let mut out = String::new();
    {
        let families = registry()
            .families
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        for (name, f) in families.iter() {
            let _ = writeln!(out, "# HELP {name} {}", f.help);
            let _ = writeln!(out, "# TYPE {name} {}", f.kind);
            for (labels, series) in &f.series {
                match series {
                    Series::Counter(c) => {
                        let _ = writeln!(
                            out,
                            "{name}{} {}",
                            label_text(labels, None),
                            c.load(Ordering::Relaxed)
                        );
                    }
                    Series::Histogram(h) => {
                        for (i, bound) in BUCKETS.iter().enumerate() {
                            let le = bound.to_string();
                            let _ = writeln!(
                                out,
                                "{name}_bucket{} {}",
                                label_text(labels, Some(("le", &le))),
                                h.buckets[i].load(Ordering::Relaxed)
                            );
                        }
                        let count = h.count.load(Ordering::Relaxed);
                        let _ = writeln!(
                            out,
                            "{name}_bucket{} {count}",
                            label_text(labels, Some(("le", "+Inf")))
                        );
                        let sum = h.sum_ns.load(Ordering::Relaxed) as f64 / 1e9;
                        let _ = writeln!(out, "{name}_sum{} {sum}", label_text(labels, None));
                        let _ = writeln!(out, "{name}_count{} {count}", label_text(labels, None));
                    }
                }
            }
        }
    }
    let gauges = registry().gauges.lock().unwrap_or_else(|e| e.into_inner());
    for (name, g) in gauges.iter() {
        let _ = writeln!(out, "# HELP {name} {}", g.help);
        let _ = writeln!(out, "# TYPE {name} gauge");
        let mut series: BTreeMap<Labels, f64> = BTreeMap::new();
        for read in &g.read {
            for (labels, v) in read() {
                *series.entry(labels).or_default() += v;
            }
        }
        for (labels, v) in series {
            let _ = writeln!(out, "{name}{} {v}", label_text(&labels, None));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_counters_histograms_and_gauges() {
        inc("eider_test_things_total", "Things.", &[("kind", "a\"b")]);
        inc("eider_test_things_total", "Things.", &[("kind", "a\"b")]);
        observe(
            "eider_test_op_seconds",
            "Ops.",
            &[("op", "x")],
            Duration::from_millis(3),
        );
        register_gauge("eider_test_depth", "Depth.", || {
            vec![(vec![("queue", "q".to_string())], 7.0)]
        });
        let text = render();
        assert!(text.contains("# TYPE eider_test_things_total counter"));
        assert!(
            text.contains("eider_test_things_total{kind=\"a\\\"b\"} 2"),
            "{text}"
        );
        assert!(text.contains("eider_test_op_seconds_bucket{op=\"x\",le=\"0.0025\"} 0"));
        assert!(text.contains("eider_test_op_seconds_bucket{op=\"x\",le=\"0.005\"} 1"));
        assert!(text.contains("eider_test_op_seconds_bucket{op=\"x\",le=\"+Inf\"} 1"));
        assert!(text.contains("eider_test_op_seconds_count{op=\"x\"} 1"));
        assert!(text.contains("eider_test_depth{queue=\"q\"} 7"));
    }
}
