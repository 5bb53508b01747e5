//! Bounds-checked little-endian reads from untrusted bytes.

use crate::{Error, Result};

/// The `N` bytes at `at`.
pub(crate) fn array<const N: usize>(
    bytes: &[u8],
    at: usize,
    field: &'static str,
    within: &'static str,
) -> Result<[u8; N]> {
    at.checked_add(N).and_then(|end| bytes.get(at..end)).and_then(|s| s.try_into().ok()).ok_or(Error::OutOfBounds {
        field,
        offset: at as u64,
        len: N as u64,
        within,
        size: bytes.len() as u64,
    })
}

/// Reads a little-endian `u16` at `at`.
pub(crate) fn le_u16(bytes: &[u8], at: usize, field: &'static str, within: &'static str) -> Result<u16> {
    array(bytes, at, field, within).map(u16::from_le_bytes)
}

/// Reads a little-endian `u32` at `at`.
pub(crate) fn le_u32(bytes: &[u8], at: usize, field: &'static str, within: &'static str) -> Result<u32> {
    array(bytes, at, field, within).map(u32::from_le_bytes)
}

/// The `len` bytes at `at`.
pub(crate) fn slice<'a>(
    bytes: &'a [u8],
    at: usize,
    len: usize,
    field: &'static str,
    within: &'static str,
) -> Result<&'a [u8]> {
    at.checked_add(len).and_then(|end| bytes.get(at..end)).ok_or(Error::OutOfBounds {
        field,
        offset: at as u64,
        len: len as u64,
        within,
        size: bytes.len() as u64,
    })
}
