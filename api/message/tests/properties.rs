//! Property tests over generated MIME messages: random trees of multiparts,
//! leaves and encapsulated messages, random transfer encodings, base64 line
//! lengths, line endings (CRLF, LF, mixed), binary content, missing closing
//! delimiters, preambles and epilogues. Whatever the shape, ingest must not
//! panic, reassembly must be byte-identical and every planned range exact.

mod common;

use common::{b64, roundtrip, Rng};
use eider_message::{BlobEncoding, Encoder, IngestOptions, Layout, Segment};
use proptest::prelude::*;

struct Gen {
    rng: Rng,
    /// 0: CRLF, 1: LF, 2: mixed per line.
    endings: u8,
    next_boundary: u32,
}

impl Gen {
    fn nl(&mut self) -> &'static str {
        match self.endings {
            0 => "\r\n",
            1 => "\n",
            _ => {
                if self.rng.below(2) == 0 {
                    "\r\n"
                } else {
                    "\n"
                }
            }
        }
    }

    fn text(&mut self, max: u64) -> String {
        let words = [
            "alpha", "beta", "gamma", "--", "=3D", "Grüße", "x", " ", "\t", "a.b",
        ];
        let n = self.rng.below(max);
        let mut s = String::new();
        for i in 0..n {
            s.push_str(words[self.rng.below(words.len() as u64) as usize]);
            if i % 7 == 6 {
                let nl = self.nl();
                s.push_str(nl);
            } else {
                s.push(' ');
            }
        }
        s
    }

    fn leaf(&mut self, out: &mut Vec<u8>) {
        let types = [
            "text/plain; charset=utf-8",
            "text/html",
            "application/octet-stream",
            "image/png; name=\"p.png\"",
            "application/pdf",
        ];
        let t = types[self.rng.below(types.len() as u64) as usize];
        let nl = self.nl();
        out.extend_from_slice(format!("Content-Type: {t}{nl}").as_bytes());
        if self.rng.below(3) == 0 {
            let nl = self.nl();
            out.extend_from_slice(
                format!("Content-Disposition: attachment; filename=\"f.bin\"{nl}").as_bytes(),
            );
        }
        match self.rng.below(4) {
            0 => {
                let nl = self.nl();
                out.extend_from_slice(
                    format!("Content-Transfer-Encoding: base64{nl}{nl}").as_bytes(),
                );
                let n = self.rng.below(6000) as usize;
                let data = self.rng.bytes(n);
                let line = match self.rng.below(4) {
                    0 => 1 + self.rng.below(120) as usize,
                    _ => 4 * (1 + self.rng.below(25) as usize),
                };
                let final_nl = self.rng.below(2) == 0;
                let enc_nl = self.nl();
                let mut body = b64(&data, line, enc_nl, final_nl);
                if self.endings == 2 && self.rng.below(3) == 0 {
                    body = body.replacen("\r\n", "\n", 1);
                }
                if self.rng.below(10) == 0 {
                    body.insert_str(body.len() / 2, " !junk! ");
                }
                out.extend_from_slice(body.as_bytes());
            }
            1 => {
                let nl = self.nl();
                out.extend_from_slice(
                    format!("Content-Transfer-Encoding: quoted-printable{nl}{nl}").as_bytes(),
                );
                let t = self.text(400);
                out.extend_from_slice(t.replace('=', "=3D").as_bytes());
            }
            2 => {
                let nl = self.nl();
                out.extend_from_slice(
                    format!("Content-Transfer-Encoding: binary{nl}{nl}").as_bytes(),
                );
                let n = self.rng.below(4000) as usize;
                out.extend(self.rng.bytes(n));
            }
            _ => {
                let nl = self.nl();
                out.extend_from_slice(nl.as_bytes());
                let t = self.text(300);
                out.extend_from_slice(t.as_bytes());
            }
        }
    }

    fn node(&mut self, out: &mut Vec<u8>, depth: u32) {
        let choice = if depth >= 5 { 0 } else { self.rng.below(5) };
        match choice {
            0 | 1 => self.leaf(out),
            2 | 3 => {
                self.next_boundary += 1;
                let b = format!("b{}z", self.next_boundary);
                let nl = self.nl();
                out.extend_from_slice(
                    format!("Content-Type: multipart/mixed; boundary=\"{b}\"{nl}{nl}").as_bytes(),
                );
                if self.rng.below(2) == 0 {
                    let nl = self.nl();
                    out.extend_from_slice(format!("preamble text{nl}").as_bytes());
                }
                let children = self.rng.below(4);
                for _ in 0..children {
                    let nl = self.nl();
                    out.extend_from_slice(format!("--{b}{nl}").as_bytes());
                    self.node(out, depth + 1);
                    let nl = self.nl();
                    out.extend_from_slice(nl.as_bytes());
                }
                if self.rng.below(6) != 0 {
                    let nl = self.nl();
                    out.extend_from_slice(format!("--{b}--{nl}").as_bytes());
                    if self.rng.below(2) == 0 {
                        let nl = self.nl();
                        out.extend_from_slice(format!("epilogue{nl}").as_bytes());
                    }
                }
            }
            _ => {
                let nl = self.nl();
                out.extend_from_slice(format!("Content-Type: message/rfc822{nl}{nl}").as_bytes());
                let nl = self.nl();
                out.extend_from_slice(
                    format!("From: inner@example.com{nl}Subject: inner{nl}").as_bytes(),
                );
                self.node(out, depth + 1);
            }
        }
    }
}

fn message(seed: u64, endings: u8) -> Vec<u8> {
    let mut g = Gen {
        rng: Rng::new(seed),
        endings,
        next_boundary: 0,
    };
    let mut out = Vec::new();
    let nl = g.nl();
    out.extend_from_slice(format!("From: \"Prop Test\" <p@example.com>{nl}To: q@example.com{nl}Subject: property {seed}{nl}MIME-Version: 1.0{nl}").as_bytes());
    g.node(&mut out, 0);
    if g.rng.below(3) == 0 {
        // Sometimes cut the message short anywhere.
        let cut = g.rng.below(out.len() as u64) as usize;
        out.truncate(cut.max(1));
    }
    out
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn generated_messages_round_trip(seed in any::<u64>(), endings in 0u8..3, threshold in prop_oneof![Just(0usize), Just(64), Just(2048), 0usize..5000]) {
        let raw = message(seed, endings);
        let opts = IngestOptions { blob_threshold: threshold, ..Default::default() };
        let ing = roundtrip(&raw, &opts, 40, seed ^ 0x5eed);
        // Every blob is either re-encodable base64 or raw bytes, sized as the layout says.
        for seg in &ing.layout.segments {
            if let Segment::Blob { hash, decoded_len, encoding, encoded_len } = seg {
                prop_assert_eq!(encoding.encoded_len(*decoded_len), *encoded_len);
                let blob = ing.blobs.iter().find(|b| b.hash == *hash).expect("blob present");
                prop_assert_eq!(blob.data.len() as u64, *decoded_len);
            }
        }
        prop_assert!(ing.index.imap_bodystructure.starts_with('('));
    }

    #[test]
    fn random_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 1..3000)) {
        roundtrip(&bytes, &IngestOptions { blob_threshold: 16, ..Default::default() }, 10, 7);
    }

    /// A lone blob: any range of its encoding, served through plan() and an
    /// Encoder fed in arbitrary chunks, is exact.
    #[test]
    fn blob_ranges_are_exact(
        len in 0usize..3000,
        quads in 1u32..30,
        crlf in any::<bool>(),
        final_newline in any::<bool>(),
        seed in any::<u64>(),
    ) {
        let mut rng = Rng::new(seed);
        let data = rng.bytes(len);
        let encoding = BlobEncoding::Base64 { line_len: quads * 4, crlf, final_newline };
        let encoded = b64(&data, (quads * 4) as usize, if crlf { "\r\n" } else { "\n" }, final_newline && !data.is_empty()).into_bytes();
        prop_assert_eq!(encoding.encoded_len(len as u64), encoded.len() as u64);
        let hash = eider_message::BlobHash::of(&data);
        let layout = Layout {
            segments: vec![
                Segment::Inline { offset: 0, len: 3 },
                Segment::Blob { hash, decoded_len: len as u64, encoding, encoded_len: encoded.len() as u64 },
                Segment::Inline { offset: 3, len: 2 },
            ],
        };
        let skeleton = b"abcde";
        let mut raw = b"abc".to_vec();
        raw.extend_from_slice(&encoded);
        raw.extend_from_slice(b"de");
        let blobs = std::iter::once((hash, data.clone())).collect();
        for _ in 0..40 {
            let a = rng.below(raw.len() as u64 + 1);
            let b = a + rng.below(raw.len() as u64 - a + 1);
            common::check_range(&layout, skeleton, &blobs, &raw, a, b, &mut rng);
        }
        // And the whole encoding in one go, in chunks.
        let mut e = Encoder::new(encoding, len as u64, 0);
        let mut out = Vec::new();
        for c in data.chunks(1 + rng.below(100) as usize) {
            e.push(c, &mut out);
        }
        e.finish(true, &mut out);
        prop_assert!(out == encoded);
    }
}
