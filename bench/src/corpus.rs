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

/// The deterministic corpus: attachment pools plus a per-message generator.
pub struct Corpus {
    seed: u64,
    small: Vec<Attachment>,
    medium: Vec<Attachment>,
    large: Vec<Attachment>,
}

impl Corpus {
    pub fn new(seed: u64) -> Self {
        let mut rng = Rng::new(seed);
        let small = attachment_pool(&mut rng, "s", 48, 8 * 1024, 150 * 1024);
        let medium = attachment_pool(&mut rng, "m", 16, 150 * 1024, 1024 * 1024);
        let large = attachment_pool(&mut rng, "l", 6, 1024 * 1024, 3600 * 1024);
        Self {
            seed,
            small,
            medium,
            large,
        }
    }

    /// Thread of message `n`: five messages each, the first one the root.
    pub fn thread_of(n: usize) -> usize {
        n / 5
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
    fn size_mix() {
        let c = Corpus::new(0xE1DE5);
        let sizes: Vec<usize> = (0..400).map(|n| c.message(n).len()).collect();
        let total: usize = sizes.iter().sum();
        let mean = total / sizes.len();
        assert!(mean > 40_000 && mean < 300_000, "mean {mean}");
        assert!(sizes.iter().filter(|s| **s < 25_000).count() > 200);
    }
}
