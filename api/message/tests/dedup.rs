//! The same file attached by two clients that wrap base64 differently is stored
//! once: blobs are keyed by the decoded content.

mod common;

use common::{b64, roundtrip, Rng};
use eider_message::{BlobEncoding, IngestOptions, Segment};

fn message(data: &[u8], line: usize, nl: &str, final_nl: bool, epilogue_blank: bool) -> Vec<u8> {
    let mut m = format!(
        "From: a@example.com{nl}Subject: report{nl}MIME-Version: 1.0{nl}Content-Type: multipart/mixed; boundary=\"sep\"{nl}{nl}--sep{nl}Content-Type: text/plain{nl}{nl}Attached.{nl}--sep{nl}Content-Type: application/pdf; name=\"report.pdf\"{nl}Content-Transfer-Encoding: base64{nl}{nl}"
    );
    m.push_str(&b64(data, line, nl, final_nl));
    if epilogue_blank {
        m.push_str(nl);
    }
    m.push_str(&format!("{nl}--sep--{nl}"));
    m.into_bytes()
}

#[test]
fn same_pdf_different_wrapping_same_blob() {
    let mut rng = Rng::new(9);
    let mut pdf = b"%PDF-1.7\n".to_vec();
    pdf.extend(rng.bytes(100_000));

    // 76 columns, CRLF, no line break of its own before the delimiter; and
    // 64 columns, LF, a line break and then a blank line before the delimiter.
    let outlook = message(&pdf, 76, "\r\n", false, false);
    let unix = message(&pdf, 64, "\n", true, true);
    let opts = IngestOptions::default();
    let a = roundtrip(&outlook, &opts, 100, 1);
    let b = roundtrip(&unix, &opts, 100, 2);

    let enc = |ing: &eider_message::Ingested| -> Vec<(eider_message::BlobHash, BlobEncoding)> {
        ing.layout
            .segments
            .iter()
            .filter_map(|s| match s {
                Segment::Blob { hash, encoding, .. } => Some((*hash, *encoding)),
                Segment::Inline { .. } => None,
            })
            .collect()
    };
    let (ea, eb) = (enc(&a), enc(&b));
    assert_eq!(ea.len(), 1);
    assert_eq!(eb.len(), 1);
    assert_eq!(ea[0].0, eb[0].0, "same content, same hash");
    assert_eq!(
        ea[0].1,
        BlobEncoding::Base64 {
            line_len: 76,
            crlf: true,
            final_newline: false
        }
    );
    assert_eq!(
        eb[0].1,
        BlobEncoding::Base64 {
            line_len: 64,
            crlf: false,
            final_newline: true
        }
    );
    assert_eq!(a.blobs[0].data, pdf);
    assert_eq!(a.index.attachments[0].blob, Some(ea[0].0));
    assert_eq!(b.index.attachments[0].blob, Some(ea[0].0));

    // Each message rebuilds from the other's stored blob.
    let shared = a.blobs[0].data.clone();
    let rebuilt =
        eider_message::reassemble(&b.layout, &b.skeleton, |_| Some(shared.as_slice())).unwrap();
    assert!(rebuilt == unix);
    // A missing or wrong-sized blob is an error, not wrong bytes.
    assert!(eider_message::reassemble(&b.layout, &b.skeleton, |_| None).is_err());
    assert!(eider_message::reassemble(&b.layout, &b.skeleton, |_| Some(&shared[1..])).is_err());
}
