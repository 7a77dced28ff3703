//! A deterministic mail corpus: multipart messages with attachments repeated across
//! messages (encoded differently by different "clients"), non-ASCII headers, threads.

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
    "the",
    "and",
    "with",
    "for",
    "please",
    "attached",
    "thanks",
    "regards",
];

fn sentence(rng: &mut Rng, words: usize) -> String {
    (0..words)
        .map(|_| WORDS[rng.below(WORDS.len() as u64) as usize])
        .collect::<Vec<_>>()
        .join(" ")
}

/// One attachment of the shared pool.
pub struct Attachment {
    pub name: String,
    pub content_type: &'static str,
    pub data: Vec<u8>,
}

/// A pool of attachments: incompressible binaries (like PDFs and JPEGs) and a few text files.
pub fn attachment_pool(rng: &mut Rng, count: usize, max_size: usize) -> Vec<Attachment> {
    (0..count)
        .map(|i| {
            let size = 2048 + rng.below(max_size as u64) as usize;
            if i % 5 == 4 {
                let mut text = String::new();
                while text.len() < size {
                    text.push_str(&sentence(rng, 12));
                    text.push_str("\r\n");
                }
                Attachment {
                    name: format!("notes-{i}.txt"),
                    content_type: "text/plain",
                    data: text.into_bytes(),
                }
            } else {
                Attachment {
                    name: format!("document-{i}.pdf"),
                    content_type: "application/pdf",
                    data: rng.bytes(size),
                }
            }
        })
        .collect()
}

/// Base64 as different clients write it: line length and line ending vary.
fn encode_base64(data: &[u8], line_len: usize, eol: &str) -> String {
    let b64 = base64::engine::general_purpose::STANDARD.encode(data);
    let mut out = String::with_capacity(b64.len() + b64.len() / line_len * 2 + 2);
    for chunk in b64.as_bytes().chunks(line_len) {
        out.push_str(std::str::from_utf8(chunk).unwrap_or_default());
        out.push_str(eol);
    }
    out
}

/// Message `n` of the corpus.
pub fn message(rng: &mut Rng, n: usize, pool: &[Attachment]) -> Vec<u8> {
    let thread = n / 4;
    let subject = if n.is_multiple_of(4) {
        format!(
            "=?UTF-8?B?{}?=",
            base64::engine::general_purpose::STANDARD
                .encode(format!("Bericht über Projekt {thread}"))
        )
    } else {
        format!("Re: Bericht {thread}")
    };
    let (line_len, eol) = match n % 3 {
        0 => (76, "\r\n"),
        1 => (72, "\r\n"),
        _ => (64, "\r\n"),
    };
    let boundary = format!("----=_Part_{n}_{}", rng.next_u64());
    let mut m = String::new();
    m.push_str(&format!(
        "From: =?UTF-8?Q?J=C3=BCrgen_M=C3=BCller?= <user{}@example.com>\r\n",
        n % 50
    ));
    m.push_str("To: Bench Recipient <bench@example.com>\r\n");
    m.push_str(&format!("Subject: {subject}\r\n"));
    m.push_str(&format!(
        "Date: Mon, {} Nov 2026 10:{:02}:00 +0000\r\n",
        1 + n % 28,
        n % 60
    ));
    m.push_str(&format!("Message-ID: <msg{n}@bench.example>\r\n"));
    if !n.is_multiple_of(4) {
        m.push_str(&format!(
            "In-Reply-To: <msg{}@bench.example>\r\n",
            thread * 4
        ));
    }
    m.push_str("MIME-Version: 1.0\r\n");
    m.push_str(&format!(
        "Content-Type: multipart/mixed; boundary=\"{boundary}\"\r\n\r\n"
    ));
    m.push_str(&format!("--{boundary}\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n"));
    for _ in 0..(3 + rng.below(30)) {
        m.push_str(&sentence(rng, 14));
        m.push_str("\r\n");
    }
    let attachments = rng.below(3) as usize;
    for _ in 0..attachments {
        let a = &pool[rng.below(pool.len() as u64) as usize];
        m.push_str(&format!(
            "--{boundary}\r\nContent-Type: {}; name=\"{}\"\r\nContent-Disposition: attachment; filename=\"{}\"\r\nContent-Transfer-Encoding: base64\r\n\r\n",
            a.content_type, a.name, a.name
        ));
        m.push_str(&encode_base64(&a.data, line_len, eol));
    }
    m.push_str(&format!("--{boundary}--\r\n"));
    m.into_bytes()
}
