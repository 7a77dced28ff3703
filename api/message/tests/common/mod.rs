//! Shared test helpers: ingest and check that the raw bytes come back exactly,
//! whole and for ranges served through `Layout::plan` and a chunked `Encoder`.
#![allow(dead_code)]

use std::collections::HashMap;

use eider_message::{
    ingest, reassemble, BlobHash, Encoder, IngestOptions, Ingested, Layout, Piece,
};

/// A small deterministic PRNG (xorshift64*), so failures reproduce.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Self(seed.max(1))
    }
    pub fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    pub fn below(&mut self, n: u64) -> u64 {
        if n == 0 {
            0
        } else {
            self.next() % n
        }
    }
    pub fn bytes(&mut self, n: usize) -> Vec<u8> {
        (0..n).map(|_| self.next() as u8).collect()
    }
}

pub fn blob_map(ing: &Ingested) -> HashMap<BlobHash, Vec<u8>> {
    ing.blobs.iter().map(|b| (b.hash, b.data.clone())).collect()
}

/// Execute a plan the way a streaming reader would: blob input fed to the
/// encoder in chunks of random sizes.
pub fn execute(
    pieces: &[Piece],
    skeleton: &[u8],
    blobs: &HashMap<BlobHash, Vec<u8>>,
    rng: &mut Rng,
) -> Vec<u8> {
    let mut out = Vec::new();
    for p in pieces {
        match p {
            Piece::Skeleton { offset, len } => {
                out.extend_from_slice(&skeleton[*offset as usize..(*offset + *len) as usize])
            }
            Piece::Blob {
                hash,
                encoding,
                decoded_len,
                decoded_start,
                decoded_end,
                skip,
                take,
            } => {
                let data = &blobs[hash];
                assert_eq!(data.len() as u64, *decoded_len);
                let mut enc = Encoder::new(*encoding, *decoded_len, *decoded_start);
                let mut buf = Vec::new();
                let mut input = &data[*decoded_start as usize..*decoded_end as usize];
                while !input.is_empty() {
                    let n = (1 + rng.below(200) as usize).min(input.len());
                    enc.push(&input[..n], &mut buf);
                    input = &input[n..];
                }
                enc.finish(decoded_end == decoded_len, &mut buf);
                assert!(
                    buf.len() as u64 >= skip + take,
                    "encoder produced {} bytes, need {}",
                    buf.len(),
                    skip + take
                );
                out.extend_from_slice(&buf[*skip as usize..(*skip + *take) as usize]);
            }
        }
    }
    out
}

/// Check that `raw[start..end]` is served exactly.
pub fn check_range(
    layout: &Layout,
    skeleton: &[u8],
    blobs: &HashMap<BlobHash, Vec<u8>>,
    raw: &[u8],
    start: u64,
    end: u64,
    rng: &mut Rng,
) {
    let pieces = layout.plan(start, end);
    let got = execute(&pieces, skeleton, blobs, rng);
    let (s, e) = (
        start.min(raw.len() as u64) as usize,
        end.min(raw.len() as u64) as usize,
    );
    let want = &raw[s.min(e)..e];
    assert!(
        got == want,
        "range {start}..{end} differs (got {} bytes, want {}); pieces {pieces:?}",
        got.len(),
        want.len()
    );
}

/// Ingest `raw`, then check whole reassembly and `ranges` random ranges (plus the
/// edges of every segment). Returns the ingest result.
pub fn roundtrip(raw: &[u8], opts: &IngestOptions, ranges: usize, seed: u64) -> Ingested {
    let ing = ingest(raw, opts).expect("ingest");
    let blobs = blob_map(&ing);
    let whole = reassemble(&ing.layout, &ing.skeleton, |h| {
        blobs.get(h).map(|v| v.as_slice())
    })
    .expect("reassemble");
    assert!(
        whole == raw,
        "reassembly differs ({} vs {} bytes)",
        whole.len(),
        raw.len()
    );
    assert_eq!(ing.layout.len(), raw.len() as u64);
    assert_eq!(ing.index.size, raw.len() as u64);

    let mut rng = Rng::new(seed);
    let len = raw.len() as u64;
    check_range(&ing.layout, &ing.skeleton, &blobs, raw, 0, len, &mut rng);
    // Around every segment boundary.
    let mut pos = 0u64;
    for seg in &ing.layout.segments {
        let l = match seg {
            eider_message::Segment::Inline { len, .. } => *len,
            eider_message::Segment::Blob { encoded_len, .. } => *encoded_len,
        };
        for (a, b) in [
            (pos, pos + l),
            (pos.saturating_sub(3), pos + 5),
            (pos + l / 2, pos + l + 2),
        ] {
            check_range(&ing.layout, &ing.skeleton, &blobs, raw, a, b, &mut rng);
        }
        pos += l;
    }
    for _ in 0..ranges {
        let a = rng.below(len + 1);
        let b = if rng.below(4) == 0 {
            a + rng.below(8)
        } else {
            a + rng.below(len - a + 2)
        };
        check_range(&ing.layout, &ing.skeleton, &blobs, raw, a, b, &mut rng);
    }
    // Empty and out-of-bounds ranges.
    check_range(
        &ing.layout,
        &ing.skeleton,
        &blobs,
        raw,
        len,
        len + 10,
        &mut rng,
    );
    check_range(&ing.layout, &ing.skeleton, &blobs, raw, 5, 5, &mut rng);
    ing
}

/// base64 of `data`, wrapped at `line` characters with `nl`, final newline optional.
pub fn b64(data: &[u8], line: usize, nl: &str, final_nl: bool) -> String {
    use base64::Engine;
    let s = base64::engine::general_purpose::STANDARD.encode(data);
    let mut out = String::new();
    let mut rest = s.as_str();
    while !rest.is_empty() {
        let (a, b) = rest.split_at(line.min(rest.len()));
        out.push_str(a);
        rest = b;
        if !rest.is_empty() || final_nl {
            out.push_str(nl);
        }
    }
    out
}

pub fn crlf(s: &str) -> Vec<u8> {
    s.replace("\r\n", "\n").replace('\n', "\r\n").into_bytes()
}
