//! QR codes as PNG data URLs: qrcodegen for the matrix, a minimal PNG writer
//! (8-bit grayscale, one zlib stream) instead of a whole image library.

use std::io::Write;

use base64::Engine;
use qrcodegen::{QrCode, QrCodeEcc};

/// Pixels per module and quiet-zone width in modules.
const SCALE: usize = 4;
const BORDER: usize = 4;

pub(crate) fn png_data_url(text: &str) -> Result<String, String> {
    let png = qr_png(text)?;
    Ok(format!(
        "data:image/png;base64,{}",
        base64::engine::general_purpose::STANDARD.encode(png)
    ))
}

pub(crate) fn qr_png(text: &str) -> Result<Vec<u8>, String> {
    let qr = QrCode::encode_text(text, QrCodeEcc::Medium).map_err(|e| e.to_string())?;
    let modules = usize::try_from(qr.size()).map_err(|e| e.to_string())?;
    let side = (modules + 2 * BORDER) * SCALE;
    // Each scanline: filter byte 0, then one gray byte per pixel.
    let mut raw = Vec::with_capacity(side * (side + 1));
    for py in 0..side {
        raw.push(0u8);
        let my = (py / SCALE) as i32 - BORDER as i32;
        for px in 0..side {
            let mx = (px / SCALE) as i32 - BORDER as i32;
            raw.push(if qr.get_module(mx, my) { 0 } else { 255 });
        }
    }
    let mut z = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::default());
    z.write_all(&raw).map_err(|e| e.to_string())?;
    let idat = z.finish().map_err(|e| e.to_string())?;

    let mut png = b"\x89PNG\r\n\x1a\n".to_vec();
    let side32 = u32::try_from(side).map_err(|e| e.to_string())?;
    let mut ihdr = Vec::with_capacity(13);
    ihdr.extend_from_slice(&side32.to_be_bytes());
    ihdr.extend_from_slice(&side32.to_be_bytes());
    // bit depth 8, color type 0 (grayscale), compression 0, filter 0, no interlace
    ihdr.extend_from_slice(&[8, 0, 0, 0, 0]);
    chunk(&mut png, b"IHDR", &ihdr);
    chunk(&mut png, b"IDAT", &idat);
    chunk(&mut png, b"IEND", &[]);
    Ok(png)
}

fn chunk(out: &mut Vec<u8>, kind: &[u8; 4], data: &[u8]) {
    out.extend_from_slice(&(data.len() as u32).to_be_bytes());
    let mut crc = flate2::Crc::new();
    crc.update(kind);
    crc.update(data);
    out.extend_from_slice(kind);
    out.extend_from_slice(data);
    out.extend_from_slice(&crc.sum().to_be_bytes());
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn png_is_well_formed() {
        let png = qr_png("otpauth://totp/x?secret=ABC").expect("png");
        assert_eq!(&png[..8], b"\x89PNG\r\n\x1a\n");
        assert_eq!(&png[12..16], b"IHDR");
        assert!(png.ends_with(&[0xAE, 0x42, 0x60, 0x82]), "IEND crc");
    }
}
