//! A deterministic mail corpus: multipart messages with attachments repeated across
//! messages (encoded differently by different "clients"), non-ASCII headers (encoded
//! words and raw UTF-8), threads (Message-ID / In-Reply-To / References).
//!
//! Message `n` depends only on the seed and `n`, so any subset can be regenerated.
//! Size mix (per message, drawn from its own generator):
//! - 64 % text only, 2–20 KB (a third of them multipart/alternative with HTML);
//! - 28 % with one or two attachments from a pool of 48 files of 8–150 KB;
//! - 7 % with one attachment from a pool of 16 files of 150 KB–1 MB;
//! - 1 % with one attachment from a pool of 6 files of 1–3.6 MB (messages up to ~5 MB).
//!
//! The large share is capped at 1 % so that 10,000 messages (~1.2 GB) fit the
//! benchmark's time budget on two cores.
//!
//! The text-heavy corpus ([`Corpus::text`], `--corpus text`) has the same headers,
//! threads and search targets, but bodies are what most real mail is: text of
//! 0.5–24 KB from a vocabulary of 6,000 made-up words drawn with a skew (so it
//! compresses about as much as real prose, not as much as 30 repeated words),
//! 45 % of it multipart/alternative with an HTML copy, replies quoting the start of
//! the text they answer, and 4 % with one attachment of 10–120 KB that no other
//! message repeats.

use base64::Engine;

/// xorshift64*: deterministic, dependency-free, good enough for test data.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Self(seed.max(1))
    }
    pub fn next_u64(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    pub fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n.max(1)
    }
    pub fn range(&mut self, lo: usize, hi: usize) -> usize {
        lo + self.below((hi - lo) as u64 + 1) as usize
    }
    pub fn bytes(&mut self, n: usize) -> Vec<u8> {
        let mut v = Vec::with_capacity(n + 8);
        while v.len() < n {
            v.extend_from_slice(&self.next_u64().to_le_bytes());
        }
        v.truncate(n);
        v
    }
}

const WORDS: &[&str] = &[
    "meeting",
    "report",
    "quarterly",
    "budget",
    "draft",
    "review",
    "schedule",
    "project",
    "deadline",
    "invoice",
    "customer",
    "proposal",
    "Grüße",
    "naïve",
    "café",
    "résumé",
    "über",
    "Straße",
    "société",
    "the",
    "and",
    "with",
    "for",
    "please",
    "attached",
    "thanks",
    "regards",
    "tomorrow",
    "agenda",
    "numbers",
];

/// A body word that appears only in messages whose index is 7 modulo 50 (2 %):
/// the target of the benchmark's `SEARCH TEXT`.
pub const RARE_WORD: &str = "Kennwortzettel";

fn sentence(rng: &mut Rng, words: usize) -> String {
    let mut s = String::new();
    for i in 0..words {
        if i > 0 {
            s.push(' ');
        }
        s.push_str(WORDS[rng.below(WORDS.len() as u64) as usize]);
    }
    s.push('.');
    s
}

/// One attachment of a shared pool.
pub struct Attachment {
    pub name: String,
    pub content_type: &'static str,
    pub data: Vec<u8>,
}

/// A pool of attachments: incompressible binaries (like PDFs and JPEGs) and, one in
/// five, text files.
pub fn attachment_pool(
    rng: &mut Rng,
    prefix: &str,
    count: usize,
    min: usize,
    max: usize,
) -> Vec<Attachment> {
    (0..count)
        .map(|i| {
            let size = rng.range(min, max);
            if i % 5 == 4 {
                let mut text = String::with_capacity(size + 200);
                while text.len() < size {
                    text.push_str(&sentence(rng, 12));
                    text.push_str("\r\n");
                }
                Attachment {
                    name: format!("{prefix}-notes-{i}.txt"),
                    content_type: "text/plain",
                    data: text.into_bytes(),
                }
            } else if i % 5 == 3 {
                Attachment {
                    name: format!("{prefix}-photo-{i}.jpg"),
                    content_type: "image/jpeg",
                    data: rng.bytes(size),
                }
            } else {
                Attachment {
                    name: format!("{prefix}-document-{i}.pdf"),
                    content_type: "application/pdf",
                    data: rng.bytes(size),
                }
            }
        })
        .collect()
}

/// Base64 as different clients write it: the line length varies.
fn push_base64(out: &mut Vec<u8>, data: &[u8], line_len: usize) {
    let b64 = base64::engine::general_purpose::STANDARD.encode(data);
    out.reserve(b64.len() + b64.len() / line_len * 2 + 2);
    for chunk in b64.as_bytes().chunks(line_len) {
        out.extend_from_slice(chunk);
        out.extend_from_slice(b"\r\n");
    }
}

fn b_word(text: &str) -> String {
    format!(
        "=?UTF-8?B?{}?=",
        base64::engine::general_purpose::STANDARD.encode(text)
    )
}

fn q_word(text: &str) -> String {
    let mut s = String::from("=?UTF-8?Q?");
    for b in text.bytes() {
        match b {
            b' ' => s.push('_'),
            b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9' | b'.' | b'-' => s.push(b as char),
            _ => s.push_str(&format!("={b:02X}")),
        }
    }
    s.push_str("?=");
    s
}

const SENDERS: &[&str] = &[
    "Jürgen Müller",
    "Zoë Ångström",
    "François Lefèvre",
    "Ана Петрова",
    "田中 太郎",
    "Bob Smith",
    "Siobhán Ó Briain",
    "Łukasz Wróbel",
];

/// The HTML alternative of `text` (quoted-printable), then the closing delimiter.
fn push_html(m: &mut Vec<u8>, text: &str, boundary: &str) {
    m.extend_from_slice(
        format!(
            "--{boundary}\r\nContent-Type: text/html; charset=utf-8\r\n\
             Content-Transfer-Encoding: quoted-printable\r\n\r\n<html><body>\r\n"
        )
        .as_bytes(),
    );
    for line in text.split("\r\n") {
        let escaped: String = line
            .chars()
            .map(|c| match c {
                '=' => "=3D".to_string(),
                c if c.is_ascii() => c.to_string(),
                c => {
                    let mut buf = [0u8; 4];
                    c.encode_utf8(&mut buf)
                        .bytes()
                        .map(|b| format!("={b:02X}"))
                        .collect()
                }
            })
            .collect();
        // Soft-wrap long lines at 72 characters (never inside an =XX escape).
        let mut rest = escaped.as_str();
        while rest.len() > 72 {
            let mut cut = 72;
            while rest.as_bytes()[cut - 1] == b'=' || rest.as_bytes()[cut - 2] == b'=' {
                cut -= 1;
            }
            m.extend_from_slice(&rest.as_bytes()[..cut]);
            m.extend_from_slice(b"=\r\n");
            rest = &rest[cut..];
        }
        m.extend_from_slice(b"<p>");
        m.extend_from_slice(rest.as_bytes());
        m.extend_from_slice(b"</p>\r\n");
    }
    m.extend_from_slice(format!("</body></html>\r\n--{boundary}--\r\n").as_bytes());
}

/// Which mail a corpus holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Text and attachments shared by many messages (the original corpus).
    Mixed,
    /// Mostly text, few attachments, no repeats.
    Text,
}

impl Kind {
    pub fn name(self) -> &'static str {
        match self {
            Kind::Mixed => "mixed",
            Kind::Text => "text",
        }
    }
}

/// The deterministic corpus: attachment pools plus a per-message generator.
pub struct Corpus {
    seed: u64,
    kind: Kind,
    small: Vec<Attachment>,
    medium: Vec<Attachment>,
    large: Vec<Attachment>,
    /// Words of the text-heavy corpus.
    vocabulary: Vec<String>,
}

/// Syllables the text corpus's words are made of (Latin letters and a few accents).
const SYLLABLES: &[&str] = &[
    "ka", "to", "ri", "men", "sa", "lo", "ver", "un", "de", "ist", "an", "ge", "ber", "mo", "ne",
    "tra", "li", "por", "es", "qu", "el", "ta", "con", "ri", "da", "ü", "é", "str", "ham", "wil",
    "ox", "pe", "ly", "nor", "fi", "sch", "ach", "ing", "ed", "or", "ay", "ph", "gu", "zo", "bel",
];

impl Corpus {
    pub fn new(seed: u64) -> Self {
        let mut rng = Rng::new(seed);
        let small = attachment_pool(&mut rng, "s", 48, 8 * 1024, 150 * 1024);
        let medium = attachment_pool(&mut rng, "m", 16, 150 * 1024, 1024 * 1024);
        let large = attachment_pool(&mut rng, "l", 6, 1024 * 1024, 3600 * 1024);
        Self {
            seed,
            kind: Kind::Mixed,
            small,
            medium,
            large,
            vocabulary: Vec::new(),
        }
    }

    /// The text-heavy corpus (see the module documentation).
    pub fn text(seed: u64) -> Self {
        let mut rng = Rng::new(seed ^ 0x7E47);
        let vocabulary = (0..6000)
            .map(|_| {
                let n = rng.range(1, 4);
                (0..n)
                    .map(|_| SYLLABLES[rng.below(SYLLABLES.len() as u64) as usize])
                    .collect::<String>()
            })
            .collect();
        Self {
            seed,
            kind: Kind::Text,
            small: Vec::new(),
            medium: Vec::new(),
            large: Vec::new(),
            vocabulary,
        }
    }

    pub fn of(kind: Kind, seed: u64) -> Self {
        match kind {
            Kind::Mixed => Self::new(seed),
            Kind::Text => Self::text(seed),
        }
    }

    /// A sentence of the text corpus: frequent words far more often than rare ones.
    fn prose(&self, rng: &mut Rng, words: usize) -> String {
        let v = self.vocabulary.len() as f64;
        let mut s = String::new();
        for i in 0..words {
            if i > 0 {
                s.push(' ');
            }
            let u = rng.below(1 << 20) as f64 / (1u64 << 20) as f64;
            let w = &self.vocabulary[((u * u * u) * v) as usize];
            if i == 0 {
                let mut c = w.chars();
                if let Some(f) = c.next() {
                    s.extend(f.to_uppercase());
                    s.push_str(c.as_str());
                }
            } else {
                s.push_str(w);
            }
            if i + 1 < words && rng.below(9) == 0 {
                s.push(',');
            }
        }
        s.push('.');
        s
    }

    /// The text body of message `n` of the text corpus (2 % name [`RARE_WORD`]).
    fn text_body(&self, n: usize, quote: bool) -> String {
        let mut rng = Rng::new(self.seed ^ (n as u64 + 7).wrapping_mul(0xD6E8_FEB8_6659_FD93));
        // Mostly short, some long: 0.5–24 KB.
        let target = match rng.below(10) {
            0..=5 => rng.range(500, 3 * 1024),
            6..=8 => rng.range(3 * 1024, 10 * 1024),
            _ => rng.range(10 * 1024, 24 * 1024),
        };
        let mut text = String::with_capacity(target + 2048);
        text.push_str("Hallo zusammen,\r\n\r\n");
        if n % 50 == 7 {
            text.push_str(&format!(
                "Der {RARE_WORD} liegt im Tresor, bitte nicht weitergeben.\r\n"
            ));
        }
        while text.len() < target {
            let mut para = String::new();
            for _ in 0..rng.range(2, 6) {
                let words = rng.range(5, 18);
                para.push_str(&self.prose(&mut rng, words));
                para.push(' ');
            }
            // Wrapped at 72 columns as mail clients do.
            let mut line = String::new();
            for w in para.split_whitespace() {
                if line.len() + w.len() + 1 > 72 && !line.is_empty() {
                    text.push_str(&line);
                    text.push_str("\r\n");
                    line.clear();
                }
                if !line.is_empty() {
                    line.push(' ');
                }
                line.push_str(w);
            }
            text.push_str(&line);
            text.push_str("\r\n\r\n");
        }
        text.push_str("Viele Grüße\r\n");
        if quote && n > 0 {
            // A reply quotes the start of the message it answers.
            let earlier = self.text_body(n - 1, false);
            text.push_str("\r\nAm Vortag schrieb jemand:\r\n");
            for l in earlier.split("\r\n").take(40) {
                text.push_str("> ");
                text.push_str(l);
                text.push_str("\r\n");
            }
        }
        text
    }

    /// Thread of message `n`: five messages each, the first one the root.
    pub fn thread_of(n: usize) -> usize {
        n / 5
    }

    /// The body of message `n` of the text corpus, after its headers.
    fn text_message(&self, n: usize, reply: bool, rng: &mut Rng, boundary: &str, m: &mut Vec<u8>) {
        let text = self.text_body(n, reply);
        match rng.below(100) {
            0..=3 => {
                // One attachment of its own (a photo or a scan: incompressible).
                let size = rng.range(10 * 1024, 120 * 1024);
                let data = rng.bytes(size);
                m.extend_from_slice(
                    format!(
                        "Content-Type: multipart/mixed; boundary=\"{boundary}\"\r\n\r\n\
                         --{boundary}\r\nContent-Type: text/plain; charset=utf-8\r\n\
                         Content-Transfer-Encoding: 8bit\r\n\r\n{text}--{boundary}\r\n\
                         Content-Type: image/jpeg; name=\"scan-{n}.jpg\"\r\n\
                         Content-Disposition: attachment; filename=\"scan-{n}.jpg\"\r\n\
                         Content-Transfer-Encoding: base64\r\n\r\n"
                    )
                    .as_bytes(),
                );
                push_base64(m, &data, 76);
                m.extend_from_slice(format!("--{boundary}--\r\n").as_bytes());
            }
            4..=48 => {
                m.extend_from_slice(
                    format!(
                        "Content-Type: multipart/alternative; boundary=\"{boundary}\"\r\n\r\n\
                         --{boundary}\r\nContent-Type: text/plain; charset=utf-8\r\n\
                         Content-Transfer-Encoding: 8bit\r\n\r\n{text}"
                    )
                    .as_bytes(),
                );
                push_html(m, &text, boundary);
            }
            _ => {
                m.extend_from_slice(
                    b"Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n",
                );
                m.extend_from_slice(text.as_bytes());
            }
        }
    }

    /// Message `n` of the corpus (CRLF line ends, no line starting with a dot).
    pub fn message(&self, n: usize) -> Vec<u8> {
        let mut rng = Rng::new(self.seed ^ (n as u64 + 1).wrapping_mul(0x9E37_79B9_7F4A_7C15));
        let thread = Self::thread_of(n);
        let pos = n % 5;
        let topic = format!("Bericht über Projekt {thread} – Größe & Qualität");
        let subject = match (pos, n % 10) {
            (_, 9) => {
                // Raw UTF-8 header (RFC 6532), as sent by modern clients.
                if pos == 0 {
                    topic.clone()
                } else {
                    format!("Re: {topic}")
                }
            }
            (0, _) => b_word(&topic),
            _ => format!("Re: {}", q_word(&topic)),
        };
        let sender = SENDERS[n % SENDERS.len()];
        let from = if n.is_multiple_of(3) {
            format!("{} <user{}@example.com>", b_word(sender), n % 50)
        } else {
            format!("{} <user{}@example.com>", q_word(sender), n % 50)
        };
        let line_len = [76, 72, 64][n % 3];
        let boundary = format!("----=_Part_{n}_{:016x}", rng.next_u64());
        let mut m: Vec<u8> = Vec::with_capacity(16 * 1024);
        let mut h = |s: String| {
            m.extend_from_slice(s.as_bytes());
            m.extend_from_slice(b"\r\n");
        };
        h(format!("Return-Path: <user{}@example.com>", n % 50));
        h(format!("From: {from}"));
        h("To: Bench Recipient <bench@example.com>".to_string());
        if n % 4 == 1 {
            h(format!(
                "Cc: {} <cc{}@example.org>",
                q_word("Søren Kierkegård"),
                n % 7
            ));
        }
        h(format!("Subject: {subject}"));
        let day = n % 700;
        h(format!(
            "Date: {}, {} {} {} {:02}:{:02}:{:02} +0100",
            ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"][day % 7],
            1 + day % 28,
            ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]
                [(day / 28) % 12],
            2024 + day / 336,
            n % 24,
            n % 60,
            (n * 7) % 60
        ));
        h(format!("Message-ID: <msg{n}.{}@bench.example>", self.seed));
        if pos > 0 {
            h(format!(
                "In-Reply-To: <msg{}.{}@bench.example>",
                n - 1,
                self.seed
            ));
            let refs: Vec<String> = (thread * 5..n)
                .map(|k| format!("<msg{k}.{}@bench.example>", self.seed))
                .collect();
            h(format!("References: {}", refs.join("\r\n ")));
        }
        h("MIME-Version: 1.0".to_string());
        h("X-Mailer: eider-bench corpus".to_string());

        if self.kind == Kind::Text {
            self.text_message(n, pos > 0, &mut rng, &boundary, &mut m);
            return m;
        }
        // Plain text body of 2–20 KB (smaller when attachments follow).
        let kind = rng.below(100);
        let text_target = if kind < 64 {
            rng.range(1500, 19 * 1024)
        } else {
            rng.range(300, 4 * 1024)
        };
        let mut text = String::with_capacity(text_target + 256);
        text.push_str("Hallo zusammen,\r\n\r\n");
        if n % 50 == 7 {
            text.push_str(&format!(
                "Der {RARE_WORD} liegt im Tresor, bitte nicht weitergeben.\r\n"
            ));
        }
        while text.len() < text_target {
            let words = rng.range(6, 16);
            text.push_str(&sentence(&mut rng, words));
            text.push_str("\r\n");
        }
        text.push_str("\r\nViele Grüße\r\n");

        let attachments: Vec<&Attachment> = match kind {
            0..=63 => vec![],
            64..=91 => {
                let count = 1 + rng.below(2) as usize;
                (0..count)
                    .map(|_| &self.small[rng.below(self.small.len() as u64) as usize])
                    .collect()
            }
            92..=98 => vec![&self.medium[rng.below(self.medium.len() as u64) as usize]],
            _ => vec![&self.large[rng.below(self.large.len() as u64) as usize]],
        };

        if attachments.is_empty() && !n.is_multiple_of(3) {
            // Single-part text message.
            m.extend_from_slice(
                b"Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n",
            );
            m.extend_from_slice(text.as_bytes());
            return m;
        }
        if attachments.is_empty() {
            m.extend_from_slice(
                format!(
                    "Content-Type: multipart/alternative; boundary=\"{boundary}\"\r\n\r\n\
                     --{boundary}\r\nContent-Type: text/plain; charset=utf-8\r\n\
                     Content-Transfer-Encoding: 8bit\r\n\r\n"
                )
                .as_bytes(),
            );
            m.extend_from_slice(text.as_bytes());
            push_html(&mut m, &text, &boundary);
            return m;
        }
        m.extend_from_slice(
            format!(
                "Content-Type: multipart/mixed; boundary=\"{boundary}\"\r\n\r\n\
                 This is a multi-part message in MIME format.\r\n\
                 --{boundary}\r\nContent-Type: text/plain; charset=utf-8\r\n\
                 Content-Transfer-Encoding: 8bit\r\n\r\n"
            )
            .as_bytes(),
        );
        m.extend_from_slice(text.as_bytes());
        for a in attachments {
            let name = if n.is_multiple_of(2) {
                format!("Anhang {} – {}", thread % 10, a.name)
            } else {
                a.name.clone()
            };
            m.extend_from_slice(
                format!(
                    "--{boundary}\r\nContent-Type: {}; name=\"{}\"\r\n\
                     Content-Disposition: attachment; filename=\"{}\"\r\n\
                     Content-Transfer-Encoding: base64\r\n\r\n",
                    a.content_type,
                    b_word(&name),
                    b_word(&name)
                )
                .as_bytes(),
            );
            push_base64(&mut m, &a.data, line_len);
        }
        m.extend_from_slice(format!("--{boundary}--\r\n").as_bytes());
        m
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deterministic_and_well_formed() {
        let c = Corpus::new(7);
        let d = Corpus::new(7);
        for n in [0, 1, 7, 99, 1234] {
            let a = c.message(n);
            assert_eq!(a, d.message(n));
            assert!(a.ends_with(b"\r\n"));
            assert!(!a.windows(3).any(|w| w == b"\n.\r" || w == b"\n.."));
            // Every LF is preceded by CR.
            for (i, b) in a.iter().enumerate() {
                if *b == b'\n' {
                    assert_eq!(a[i - 1], b'\r', "bare LF in message {n}");
                }
            }
            assert!(a.len() >= 2000 && a.len() <= 5 * 1024 * 1024, "{}", a.len());
        }
    }

    #[test]
    fn text_corpus_is_text() {
        let c = Corpus::text(0xE1DE5);
        let d = Corpus::text(0xE1DE5);
        let mut total = 0;
        for n in 0..300 {
            let a = c.message(n);
            assert_eq!(a, d.message(n));
            assert!(!a.windows(3).any(|w| w == b"\n.\r" || w == b"\n.."));
            for (i, b) in a.iter().enumerate() {
                if *b == b'\n' {
                    assert_eq!(a[i - 1], b'\r', "bare LF in message {n}");
                }
            }
            total += a.len();
        }
        let mean = total / 300;
        assert!(mean > 3_000 && mean < 30_000, "mean {mean}");
        assert!(String::from_utf8_lossy(&c.message(7)).contains(RARE_WORD));
    }

    #[test]
    fn size_mix() {
        let c = Corpus::new(0xE1DE5);
        let sizes: Vec<usize> = (0..400).map(|n| c.message(n).len()).collect();
        let total: usize = sizes.iter().sum();
        let mean = total / sizes.len();
        assert!(mean > 40_000 && mean < 300_000, "mean {mean}");
        assert!(sizes.iter().filter(|s| **s < 25_000).count() > 200);
    }
}
