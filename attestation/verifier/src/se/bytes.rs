//! Bounds-checked big-endian field access shared by the SE parsers.

use crate::{Error, Result};

/// `len` bytes at `offset` of `bytes`, or a [`Error::Malformed`] naming `what`.
pub(crate) fn slice<'a>(bytes: &'a [u8], offset: usize, len: usize, what: &'static str) -> Result<&'a [u8]> {
    offset.checked_add(len).and_then(|end| bytes.get(offset..end)).ok_or_else(|| {
        Error::malformed(what, offset, format!("needs {len} bytes here, input is {} bytes", bytes.len()))
    })
}

/// A fixed-size array at `offset`.
pub(crate) fn array<const N: usize>(bytes: &[u8], offset: usize, what: &'static str) -> Result<[u8; N]> {
    let s = slice(bytes, offset, N, what)?;
    let mut out = [0u8; N];
    out.copy_from_slice(s);
    Ok(out)
}

/// A big-endian `u32` at `offset`.
pub(crate) fn be_u32(bytes: &[u8], offset: usize, what: &'static str) -> Result<u32> {
    array::<4>(bytes, offset, what).map(u32::from_be_bytes)
}

/// A big-endian `u64` at `offset`.
pub(crate) fn be_u64(bytes: &[u8], offset: usize, what: &'static str) -> Result<u64> {
    array::<8>(bytes, offset, what).map(u64::from_be_bytes)
}

/// A length or offset field converted to `usize`.
pub(crate) fn to_usize(value: u64, what: &'static str, offset: usize) -> Result<usize> {
    usize::try_from(value)
        .map_err(|_| Error::malformed(what, offset, format!("value {value:#x} does not fit in memory")))
}
