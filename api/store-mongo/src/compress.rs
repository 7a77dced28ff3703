//! zstd with one context per thread: creating a compression context costs more than
//! compressing a small message, and every append compresses at least twice.

use std::cell::RefCell;

use crate::error::{Error, Result};

const LEVEL: i32 = 3;
/// Largest frame this store writes (a blob chunk or a message index); anything
/// claiming more is corrupt, and is refused before allocating.
const MAX_FRAME: u64 = 256 * 1024 * 1024;

thread_local! {
    static COMPRESSOR: RefCell<Option<zstd::bulk::Compressor<'static>>> = const { RefCell::new(None) };
    static DECOMPRESSOR: RefCell<Option<zstd::bulk::Decompressor<'static>>> = const { RefCell::new(None) };
}

/// One zstd frame (level 3) holding `data`, its size recorded in the frame header.
/// Refuses data larger than [`decompress`] accepts: nothing is stored that cannot
/// be read back (ingest bounds the index, so this is a last line of defence).
pub(crate) fn compress(data: &[u8]) -> Result<Vec<u8>> {
    if data.len() as u64 > MAX_FRAME {
        return Err(Error::corrupt(format!(
            "refusing to store a {}-byte frame (over {MAX_FRAME})",
            data.len()
        )));
    }
    COMPRESSOR.with(|cell| {
        let mut slot = cell.borrow_mut();
        if slot.is_none() {
            *slot = Some(zstd::bulk::Compressor::new(LEVEL)?);
        }
        match slot.as_mut() {
            Some(c) => Ok(c.compress(data)?),
            None => Err(Error::corrupt("no zstd compressor")),
        }
    })
}

/// The content of one frame written by [`compress`].
pub(crate) fn decompress(frame: &[u8]) -> Result<Vec<u8>> {
    let size = zstd::zstd_safe::get_frame_content_size(frame)
        .map_err(|_| Error::corrupt("not a zstd frame"))?
        .ok_or_else(|| Error::corrupt("zstd frame without a content size"))?;
    if size > MAX_FRAME {
        return Err(Error::corrupt(format!("zstd frame claims {size} bytes")));
    }
    DECOMPRESSOR.with(|cell| {
        let mut slot = cell.borrow_mut();
        if slot.is_none() {
            *slot = Some(zstd::bulk::Decompressor::new()?);
        }
        let d = slot
            .as_mut()
            .ok_or_else(|| Error::corrupt("no zstd decompressor"))?;
        let out = d.decompress(frame, size as usize)?;
        if out.len() as u64 != size {
            return Err(Error::corrupt("zstd frame shorter than its header says"));
        }
        Ok(out)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_rejects_junk() {
        let data = b"hello hello hello hello hello".repeat(100);
        let z = compress(&data).expect("compress");
        assert!(z.len() < data.len());
        assert_eq!(decompress(&z).expect("decompress"), data);
        assert_eq!(
            decompress(&compress(b"").expect("empty")).expect("empty"),
            b""
        );
        assert!(decompress(b"not zstd at all").is_err());
    }
}
