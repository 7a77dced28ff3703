//! A 30 MB attachment: ingest stays within a small multiple of the message size,
//! finishes in reasonable time even in a debug build, and reads back exactly
//! (whole and by ranges, including ranges deep inside the blob). Huge header
//! sections (a 20 MB address list, a 20 MB line, 200,000 fields) likewise cost a
//! small multiple of their size and yield a bounded index.

mod common;

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::Instant;

use common::{b64, blob_map, check_range, Rng};
use eider_message::{ingest, reassemble, BlobEncoding, IngestOptions, Segment};

/// Counts live heap bytes and their peak, to check ingest's memory use.
struct Counting;

static LIVE: AtomicUsize = AtomicUsize::new(0);
static PEAK: AtomicUsize = AtomicUsize::new(0);

fn note_alloc(size: usize) {
    let now = LIVE.fetch_add(size, Ordering::Relaxed) + size;
    PEAK.fetch_max(now, Ordering::Relaxed);
}

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        note_alloc(layout.size());
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        LIVE.fetch_sub(layout.size(), Ordering::Relaxed);
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        LIVE.fetch_sub(layout.size(), Ordering::Relaxed);
        note_alloc(new_size);
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static ALLOC: Counting = Counting;

const MB: usize = 1 << 20;

/// The counters are global: tests that measure run one at a time.
static SERIAL: Mutex<()> = Mutex::new(());

#[test]
fn thirty_megabyte_attachment() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let mut rng = Rng::new(42);
    let data = rng.bytes(30 * MB);
    let mut raw = b"From: big@example.com\r\nTo: you@example.com\r\nSubject: big one\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=\"big\"\r\n\r\n--big\r\nContent-Type: text/plain\r\n\r\nHere it is.\r\n--big\r\nContent-Type: application/octet-stream; name=\"big.bin\"\r\nContent-Transfer-Encoding: base64\r\n\r\n".to_vec();
    raw.extend_from_slice(b64(&data, 76, "\r\n", true).as_bytes());
    raw.extend_from_slice(b"--big--\r\n");
    let raw_len = raw.len();

    let base = LIVE.load(Ordering::Relaxed);
    PEAK.store(base, Ordering::Relaxed);
    let t = Instant::now();
    let ing = ingest(&raw, &IngestOptions::default()).expect("ingest");
    let took = t.elapsed();
    let peak = PEAK.load(Ordering::Relaxed) - base;
    let kept = LIVE.load(Ordering::Relaxed) - base;
    println!(
        "ingest of {} MB: {took:?}, peak {} MB above input, {} MB kept",
        raw_len / MB,
        peak / MB,
        kept / MB
    );
    // What is kept is the decoded blob (30 MB) plus a small skeleton and index.
    assert!(kept < 31 * MB, "kept {kept}");
    // Transient use on top of that stays small: no copy of the raw message, no
    // whole-body re-encoding buffer.
    assert!(peak < 36 * MB, "peak {peak}");
    assert!(took.as_secs() < 60, "ingest took {took:?}");

    assert_eq!(ing.blobs.len(), 1);
    assert_eq!(ing.blobs[0].data, data);
    assert!(ing.skeleton.len() < 1024);
    // The CRLF before the closing delimiter belongs to the delimiter, so the
    // body's last line has no line break of its own.
    assert!(matches!(
        ing.layout.segments[1],
        Segment::Blob {
            encoding: BlobEncoding::Base64 {
                line_len: 76,
                crlf: true,
                final_newline: false
            },
            ..
        }
    ));
    let att = &ing.index.attachments[0];
    assert_eq!(att.size, 30 * MB as u64);
    assert_eq!(att.blob, Some(ing.blobs[0].hash));

    let blobs = blob_map(&ing);
    let t = Instant::now();
    let whole = reassemble(&ing.layout, &ing.skeleton, |h| {
        blobs.get(h).map(|v| v.as_slice())
    })
    .expect("reassemble");
    println!("reassembly: {:?}", t.elapsed());
    assert!(whole == raw);
    drop(whole);

    let len = raw_len as u64;
    for (a, b) in [
        (0, 300),
        (len - 100, len),
        (len / 2, len / 2 + 1),
        (len / 3 + 7, len / 3 + 200_000),
        (250, len - 250),
    ] {
        check_range(&ing.layout, &ing.skeleton, &blobs, &raw, a, b, &mut rng);
    }
    for _ in 0..30 {
        let a = rng.below(len);
        let b = a + rng.below(5000);
        check_range(&ing.layout, &ing.skeleton, &blobs, &raw, a, b, &mut rng);
    }
}

/// Ingest `raw`; check the peak heap use, the index size and exact reassembly.
/// Call with [`SERIAL`] held since before the message was built.
fn ingest_huge_header(label: &str, raw: &[u8]) -> eider_message::MessageIndex {
    let base = LIVE.load(Ordering::Relaxed);
    PEAK.store(base, Ordering::Relaxed);
    let t = Instant::now();
    let ing = ingest(raw, &IngestOptions::default()).expect("ingest");
    let took = t.elapsed();
    let peak = PEAK.load(Ordering::Relaxed) - base;
    let json = serde_json::to_vec(&ing.index).expect("json").len();
    println!(
        "{label}: {} bytes, ingest {took:?}, peak {} KB above input, index JSON {} KB",
        raw.len(),
        peak / 1024,
        json / 1024
    );
    // The skeleton is a copy of the raw message (no attachment to move out);
    // everything else is bounded by the index limits.
    assert!(peak < raw.len() + 16 * MB, "peak {peak}");
    assert!(json < 4 * MB, "index JSON {json}");
    let whole = reassemble(&ing.layout, &ing.skeleton, |_| None).expect("reassemble");
    assert!(whole == raw);
    ing.index
}

fn with_header(fields: &[u8]) -> Vec<u8> {
    let mut raw = b"From: a@example.com\r\nSubject: s\r\n".to_vec();
    raw.extend_from_slice(fields);
    raw.extend_from_slice(b"Content-Type: text/plain\r\n\r\nbody\r\n");
    raw
}

#[test]
fn twenty_megabyte_address_list() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let mut h = b"To: First <first@example.net>,".to_vec();
    let mut i = 0;
    while h.len() < 20 * MB {
        h.extend_from_slice(format!("\r\n u{i:07}@example.net,").as_bytes());
        i += 1;
    }
    h.extend_from_slice(b"\r\n last@example.net\r\n");
    let index = ingest_huge_header("20 MB To", &with_header(&h));
    assert_eq!(index.to.len(), eider_message::index::MAX_INDEXED_ADDRESSES);
    assert_eq!(index.to[0].address, "first@example.net");
    assert_eq!(index.to[1].address, "u0000000@example.net");
    assert_eq!(index.envelope.to.len(), index.to.len());
    assert!(index.imap_envelope.len() < 256 * 1024);
    assert!(index.recipients_truncated);
}

#[test]
fn twenty_megabyte_header_line() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let mut h = b"Received: ".to_vec();
    while h.len() < 20 * MB {
        h.extend_from_slice(b"from relay.example.net (relay [192.0.2.1]) by mx; ");
    }
    h.extend_from_slice(b"\r\n");
    let index = ingest_huge_header("20 MB line", &with_header(&h));
    let received = &index.headers[2];
    assert_eq!(received.key, "Received");
    assert!(received.value.starts_with("from relay.example.net"));
    assert!(received.value.len() <= eider_message::index::MAX_INDEXED_VALUE);
}

#[test]
fn two_hundred_thousand_fields() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let mut h = Vec::new();
    for i in 0..200_000 {
        h.extend_from_slice(format!("X-Tiny-{i:06}: v\r\n").as_bytes());
    }
    h.extend_from_slice(b"To: late@example.net\r\n");
    let index = ingest_huge_header("200,000 fields", &with_header(&h));
    // The first fields are listed; later ones only when ENVELOPE/BODYSTRUCTURE need them.
    assert_eq!(
        index.headers.len(),
        eider_message::index::MAX_INDEXED_FIELDS + 2
    );
    assert_eq!(index.to[0].address, "late@example.net");
    assert!(!index.recipients_truncated);
    assert_eq!(index.root.media_subtype, "plain");
}
