//! STAND-IN until the unpack helper's module lands (replaced on merge).
#![allow(missing_docs)]
use crate::{Error, Result};
pub fn decoder<'a>(
    media_type: &str,
    reader: Box<dyn std::io::Read + Send + 'a>,
) -> Result<Box<dyn std::io::Read + Send + 'a>> {
    let base = media_type.strip_suffix("+encrypted").unwrap_or(media_type);
    if base.ends_with("tar+gzip") || base.ends_with("tar.gzip") {
        Ok(Box::new(flate2::read::MultiGzDecoder::new(reader)))
    } else if base.ends_with("tar+zstd") {
        Ok(Box::new(zstd::stream::read::Decoder::new(reader).map_err(|e| Error::io("zstd", e))?))
    } else if base.ends_with(".tar") {
        Ok(reader)
    } else {
        Err(Error::UnsupportedMediaType(media_type.into()))
    }
}
