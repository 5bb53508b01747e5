//! Reading the launch facts back out of the DTB a realm measures.
//!
//! The DTB is measured as bytes, so it is an input rather than something
//! built here; but the VMM writes the launch into it (RAM, vCPUs, command
//! line, initrd range). Reading those back lets a launch whose DTB does not
//! describe it be refused instead of measured into a value no realm will
//! ever report.
//!
//! Format: Devicetree Specification v0.4, chapter 5 ("Flattened Devicetree
//! (DTB) Format"): a 40-byte big-endian header (5.2), a structure block of
//! 32-bit tokens (5.4) and a strings block (5.5).

use serde::Serialize;

use crate::{Error, Result};

const FDT_MAGIC: u32 = 0xd00d_feed;
const FDT_BEGIN_NODE: u32 = 1;
const FDT_END_NODE: u32 = 2;
const FDT_PROP: u32 = 3;
const FDT_NOP: u32 = 4;
const FDT_END: u32 = 9;
const HEADER_SIZE: usize = 40;
/// Deepest node nesting accepted.
const MAX_DEPTH: usize = 64;
/// Largest DTB accepted (QEMU's own limit is 1 MiB; this leaves room).
pub const MAX_DTB_SIZE: usize = 2 << 20;

/// What a DTB says about the launch.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct DtbLaunchInfo {
    /// `reg` ranges of the nodes with `device_type = "memory"`, as (base, size).
    pub memory: Vec<(u64, u64)>,
    /// Children of `/cpus` with `device_type = "cpu"`.
    pub cpus: u32,
    /// `/chosen/bootargs` without its NUL, when present.
    pub bootargs: Option<String>,
    /// `/chosen/linux,initrd-start` and `linux,initrd-end`, when present.
    pub initrd: Option<(u64, u64)>,
}

fn dtb_err(field: impl Into<String>, reason: impl Into<String>) -> Error {
    Error::CcaDtb { field: field.into(), reason: reason.into() }
}

fn be32(b: &[u8], at: usize, field: &str) -> Result<u32> {
    b.get(at..at.saturating_add(4))
        .and_then(|s| s.try_into().ok())
        .map(u32::from_be_bytes)
        .ok_or_else(|| dtb_err(field, format!("needs 4 bytes at offset {at:#x}, the block has {:#x}", b.len())))
}

/// Read `cells` 32-bit cells as one number.
fn cells_value(b: &[u8], cells: u32, field: &str) -> Result<u64> {
    if cells > 2 {
        return Err(dtb_err(field, format!("{cells} cells per value, at most 2 supported")));
    }
    let mut v = 0u64;
    for i in 0..cells as usize {
        v = (v << 32) | u64::from(be32(b, 4 * i, field)?);
    }
    Ok(v)
}

fn c_string(b: &[u8], field: &str) -> Result<String> {
    let end = b.iter().position(|c| *c == 0).ok_or_else(|| dtb_err(field, "string without NUL terminator"))?;
    String::from_utf8(b[..end].to_vec()).map_err(|_| dtb_err(field, "string is not UTF-8"))
}

struct Node {
    name: String,
    address_cells: u32,
    size_cells: u32,
    device_type: Option<String>,
    reg: Option<Vec<u8>>,
    /// (address cells, size cells) this node's `reg` is read with.
    parent_cells: (u32, u32),
}

/// Parse the header and structure block of a DTB and return what it says
/// about the launch. Every offset and length from the blob is checked;
/// zero bytes after `totalsize` (kvmtool's padded DTB area) are allowed.
pub fn parse_dtb(dtb: &[u8]) -> Result<DtbLaunchInfo> {
    if dtb.len() > MAX_DTB_SIZE {
        return Err(dtb_err("totalsize", format!("{} bytes, at most {MAX_DTB_SIZE} accepted", dtb.len())));
    }
    if dtb.len() < HEADER_SIZE {
        return Err(dtb_err("header", format!("expected at least {HEADER_SIZE} bytes, found {}", dtb.len())));
    }
    let magic = be32(dtb, 0, "magic")?;
    if magic != FDT_MAGIC {
        return Err(dtb_err("magic", format!("expected {FDT_MAGIC:#010x}, found {magic:#010x}")));
    }
    let total = be32(dtb, 4, "totalsize")? as usize;
    if total > dtb.len() || total < HEADER_SIZE {
        return Err(dtb_err("totalsize", format!("{total:#x} outside the {:#x}-byte blob", dtb.len())));
    }
    let dtb = &dtb[..total];
    let block = |off_at: usize, size_at: usize, field: &str| -> Result<&[u8]> {
        let off = be32(dtb, off_at, field)? as usize;
        let size = be32(dtb, size_at, field)? as usize;
        dtb.get(off..off.saturating_add(size))
            .ok_or_else(|| dtb_err(field, format!("[{off:#x}, +{size:#x}) is outside totalsize {total:#x}")))
    };
    let version = be32(dtb, 20, "version")?;
    if version < 17 {
        return Err(dtb_err("version", format!("expected 17 or later, found {version}")));
    }
    let structs = block(8, 36, "off_dt_struct")?;
    let strings = block(12, 32, "off_dt_strings")?;

    let mut info = DtbLaunchInfo::default();
    let mut stack: Vec<Node> = Vec::new();
    let mut pos = 0usize;
    let mut chosen_initrd = (None, None);
    loop {
        let token = be32(structs, pos, "structure block")?;
        pos += 4;
        match token {
            FDT_BEGIN_NODE => {
                let rest = structs.get(pos..).unwrap_or_default();
                let name = c_string(rest, "node name")?;
                pos = (pos + name.len() + 1).next_multiple_of(4);
                if stack.len() >= MAX_DEPTH {
                    return Err(dtb_err("structure block", format!("nodes nested deeper than {MAX_DEPTH}")));
                }
                // Defaults from the Devicetree Specification 2.3.5.
                let parent_cells = stack.last().map_or((2, 1), |p| (p.address_cells, p.size_cells));
                stack.push(Node { name, address_cells: 2, size_cells: 1, device_type: None, reg: None, parent_cells });
            }
            FDT_END_NODE => {
                let node = stack.pop().ok_or_else(|| dtb_err("structure block", "FDT_END_NODE without a node"))?;
                let depth = stack.len();
                let is = |t: &str| node.device_type.as_deref() == Some(t);
                if depth == 1 && is("memory") {
                    let reg = node.reg.unwrap_or_default();
                    let (ac, sc) = node.parent_cells;
                    let entry = 4 * (ac + sc) as usize;
                    if entry == 0 || reg.len() % entry != 0 {
                        return Err(dtb_err(
                            "memory reg",
                            format!("{} bytes is not a list of ({ac}, {sc})-cell entries", reg.len()),
                        ));
                    }
                    for e in reg.chunks(entry) {
                        let base = cells_value(e, ac, "memory reg")?;
                        let size = cells_value(&e[4 * ac as usize..], sc, "memory reg")?;
                        info.memory.push((base, size));
                    }
                } else if depth == 2 && is("cpu") && stack.get(1).is_some_and(|p| p.name == "cpus") {
                    info.cpus += 1;
                }
                if stack.is_empty() {
                    break;
                }
            }
            FDT_PROP => {
                let len = be32(structs, pos, "property length")? as usize;
                let nameoff = be32(structs, pos + 4, "property name offset")? as usize;
                pos += 8;
                let value = structs.get(pos..pos.saturating_add(len)).ok_or_else(|| {
                    dtb_err("property length", format!("{len:#x} bytes at {pos:#x} run past the structure block"))
                })?;
                pos = (pos + len).next_multiple_of(4);
                let pname = c_string(strings.get(nameoff..).unwrap_or_default(), "property name offset")?;
                let depth = stack.len();
                let node = stack.last_mut().ok_or_else(|| dtb_err("structure block", "property outside any node"))?;
                match pname.as_str() {
                    "#address-cells" => node.address_cells = be32(value, 0, "#address-cells")?,
                    "#size-cells" => node.size_cells = be32(value, 0, "#size-cells")?,
                    "device_type" => node.device_type = Some(c_string(value, "device_type")?),
                    "reg" => node.reg = Some(value.to_vec()),
                    _ => {}
                }
                if depth == 2 && node.name == "chosen" {
                    let number = |field: &str| match value.len() {
                        4 => cells_value(value, 1, field),
                        8 => cells_value(value, 2, field),
                        n => Err(dtb_err(field, format!("expected 4 or 8 bytes, found {n}"))),
                    };
                    match pname.as_str() {
                        "bootargs" => info.bootargs = Some(c_string(value, "bootargs")?),
                        "linux,initrd-start" => chosen_initrd.0 = Some(number("linux,initrd-start")?),
                        "linux,initrd-end" => chosen_initrd.1 = Some(number("linux,initrd-end")?),
                        _ => {}
                    }
                }
            }
            FDT_NOP => {}
            FDT_END => return Err(dtb_err("structure block", "FDT_END inside the root node")),
            other => return Err(dtb_err("structure block", format!("unknown token {other:#x} at {:#x}", pos - 4))),
        }
    }
    info.initrd = match chosen_initrd {
        (Some(s), Some(e)) => Some((s, e)),
        (None, None) => None,
        _ => return Err(dtb_err("/chosen", "only one of linux,initrd-start and linux,initrd-end")),
    };
    Ok(info)
}
