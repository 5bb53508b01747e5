//! Layer media type → decompressing reader.
//!
//! A layer blob is a tar stream, plain or compressed with gzip or zstd; the
//! media type says which (OCI image spec, "Image Layer Filesystem
//! Changeset"; Docker image manifest v2 schema 2). The decoders stream: memory
//! does not depend on the layer size. They do not limit the decompressed size
//! themselves: [`crate::unpack::apply_layer`] counts the tar bytes it reads
//! against the caller's per-layer limit, which stops a decompression bomb
//! after that many bytes whatever the compression.
//!
//! A stream that ends early is an error, never a short layer: gzip checks
//! each member's trailer (CRC and length), zstd reports an incomplete frame,
//! and the tar reader requires the end-of-archive marker.

use std::io::{self, BufReader, Read};

use crate::{Error, Result};

/// Largest zstd window accepted, as a power of two: 2^25 = 32 MiB. The window
/// is memory the decoder allocates as the frame header asks, so a hostile
/// layer could otherwise ask for up to 2 GiB. `zstd -19` and below use at most
/// 8 MiB; only `--long` or `--ultra` frames need more and are refused.
pub const ZSTD_WINDOW_LOG_MAX: u32 = 25;

/// How a layer blob is compressed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Compression {
    /// A plain tar stream.
    None,
    /// gzip (RFC 1952), possibly several members.
    Gzip,
    /// zstd (RFC 8878), possibly several frames.
    Zstd,
}

impl Compression {
    /// The compression a layer media type names (without `+encrypted`), or
    /// [`Error::UnsupportedMediaType`].
    pub fn from_media_type(media_type: &str) -> Result<Compression> {
        let compression = match media_type.trim() {
            "application/vnd.oci.image.layer.v1.tar"
            | "application/vnd.oci.image.layer.nondistributable.v1.tar"
            | "application/vnd.docker.image.rootfs.diff.tar" => Compression::None,
            "application/vnd.oci.image.layer.v1.tar+gzip"
            | "application/vnd.oci.image.layer.nondistributable.v1.tar+gzip"
            | "application/vnd.docker.image.rootfs.diff.tar.gzip"
            | "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip" => Compression::Gzip,
            "application/vnd.oci.image.layer.v1.tar+zstd"
            | "application/vnd.oci.image.layer.nondistributable.v1.tar+zstd"
            | "application/vnd.docker.image.rootfs.diff.tar.zstd" => Compression::Zstd,
            other => return Err(Error::UnsupportedMediaType(other.to_string())),
        };
        Ok(compression)
    }
}

/// Media type of a layer (already stripped of `+encrypted`) → a decoder over `reader`.
/// Handles `…tar`, `…tar+gzip`, `…tar+zstd`, Docker `…rootfs.diff.tar.gzip`, and the
/// non-distributable variants; anything else: [`Error::UnsupportedMediaType`].
///
/// Read errors of the returned reader are `io::Error`s: a corrupt or truncated
/// stream gives one whose message names the format (`gzip stream: …`,
/// `zstd stream: …`); an error of this crate from `reader` (digest,
/// decryption) comes through unchanged inside the `io::Error`.
pub fn decoder<'a>(media_type: &str, reader: Box<dyn Read + Send + 'a>) -> Result<Box<dyn Read + Send + 'a>> {
    match Compression::from_media_type(media_type)? {
        Compression::None => Ok(reader),
        Compression::Gzip => {
            Ok(Box::new(GzipReader { inner: flate2::bufread::MultiGzDecoder::new(BufReader::new(reader)) }))
        }
        Compression::Zstd => {
            let mut decoder =
                zstd::stream::read::Decoder::new(reader).map_err(|e| Error::io("cannot start the zstd decoder", e))?;
            decoder.window_log_max(ZSTD_WINDOW_LOG_MAX).map_err(|e| Error::io("cannot limit the zstd window", e))?;
            Ok(Box::new(ZstdReader { inner: decoder }))
        }
    }
}

/// gzip decoder whose errors say they come from gzip.
struct GzipReader<R> {
    inner: R,
}

impl<R: Read> Read for GzipReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.inner.read(buf).map_err(|e| annotate("gzip", e))
    }
}

/// zstd decoder whose errors say they come from zstd.
struct ZstdReader<R> {
    inner: R,
}

impl<R: Read> Read for ZstdReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.inner.read(buf).map_err(|e| annotate("zstd", e))
    }
}

/// Prefixes a decoder error with the format, keeping errors from the inner
/// reader (digest mismatch, decryption failure) as they are so the caller
/// can still match on them.
fn annotate(format: &str, e: io::Error) -> io::Error {
    if e.get_ref().is_some_and(|inner| inner.is::<Error>()) {
        return e;
    }
    io::Error::new(e.kind(), format!("{format} stream: {e}"))
}

#[cfg(test)]
mod tests {
    use std::io::Write;

    use super::*;

    fn gzip(data: &[u8]) -> Vec<u8> {
        let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        enc.write_all(data).unwrap();
        enc.finish().unwrap()
    }

    fn read_all(media_type: &str, blob: Vec<u8>) -> io::Result<Vec<u8>> {
        let mut out = Vec::new();
        decoder(media_type, Box::new(io::Cursor::new(blob))).unwrap().read_to_end(&mut out)?;
        Ok(out)
    }

    const GZ: &str = "application/vnd.oci.image.layer.v1.tar+gzip";
    const ZST: &str = "application/vnd.oci.image.layer.v1.tar+zstd";

    #[test]
    fn media_types() {
        for (mt, c) in [
            ("application/vnd.oci.image.layer.v1.tar", Compression::None),
            (GZ, Compression::Gzip),
            (ZST, Compression::Zstd),
            ("application/vnd.docker.image.rootfs.diff.tar.gzip", Compression::Gzip),
            ("application/vnd.docker.image.rootfs.foreign.diff.tar.gzip", Compression::Gzip),
            ("application/vnd.oci.image.layer.nondistributable.v1.tar+zstd", Compression::Zstd),
        ] {
            assert_eq!(Compression::from_media_type(mt).unwrap(), c, "{mt}");
        }
        for bad in ["application/vnd.oci.image.layer.v1.tar+gzip+encrypted", "text/plain", ""] {
            assert!(matches!(Compression::from_media_type(bad), Err(Error::UnsupportedMediaType(_))), "{bad}");
        }
    }

    #[test]
    fn plain_passes_through() {
        assert_eq!(read_all("application/vnd.oci.image.layer.v1.tar", b"abc".to_vec()).unwrap(), b"abc");
    }

    #[test]
    fn gzip_multi_member() {
        let mut blob = gzip(b"hello ");
        blob.extend(gzip(b"world"));
        assert_eq!(read_all(GZ, blob).unwrap(), b"hello world");
    }

    #[test]
    fn gzip_truncated_is_an_error() {
        let data: Vec<u8> = (0..200_000u32).map(|i| (i * 7 % 251) as u8).collect();
        let blob = gzip(&data);
        for cut in [blob.len() - 1, blob.len() - 8, blob.len() / 2, 11] {
            let err = read_all(GZ, blob[..cut].to_vec()).expect_err("truncated gzip must fail");
            assert!(err.to_string().contains("gzip"), "{err}");
        }
    }

    #[test]
    fn gzip_corrupt_is_an_error() {
        let mut blob = gzip(&[7u8; 10_000]);
        let n = blob.len();
        blob[n - 6] ^= 0xff; // CRC/length trailer
        read_all(GZ, blob).expect_err("bad trailer must fail");
    }

    #[test]
    fn zstd_round_trip_and_truncation() {
        let data: Vec<u8> = (0..300_000u32).map(|i| (i * 13 % 241) as u8).collect();
        let blob = zstd::stream::encode_all(&data[..], 3).unwrap();
        assert_eq!(read_all(ZST, blob.clone()).unwrap(), data);
        let err = read_all(ZST, blob[..blob.len() - 3].to_vec()).expect_err("truncated zstd must fail");
        assert!(err.to_string().contains("zstd"), "{err}");
    }

    #[test]
    fn zstd_window_too_large_is_refused() {
        let mut enc = zstd::stream::write::Encoder::new(Vec::new(), 1).unwrap();
        enc.window_log(ZSTD_WINDOW_LOG_MAX + 2).unwrap();
        enc.long_distance_matching(true).unwrap();
        // Streamed without a pledged size, so the frame header announces the window.
        let data: Vec<u8> = (0..(1u32 << 20)).map(|i| (i % 253) as u8).collect();
        enc.write_all(&data).unwrap();
        let blob = enc.finish().unwrap();
        let err = read_all(ZST, blob).expect_err("window above the limit must fail");
        assert!(err.to_string().contains("zstd"), "{err}");
    }

    #[test]
    fn inner_crate_errors_are_kept() {
        struct Failing;
        impl Read for Failing {
            fn read(&mut self, _: &mut [u8]) -> io::Result<usize> {
                Err(io::Error::other(Error::Decrypt("hmac mismatch".into())))
            }
        }
        let mut out = Vec::new();
        let err = decoder(GZ, Box::new(Failing)).unwrap().read_to_end(&mut out).unwrap_err();
        assert!(err.get_ref().unwrap().is::<Error>(), "{err:?}");
    }
}
