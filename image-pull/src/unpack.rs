//! STAND-IN until the unpack helper's module lands (replaced on merge).
#![allow(missing_docs)]
use crate::{Error, Result};
#[derive(Debug, Clone)]
pub struct UnpackOptions {
    pub allow_devices: bool,
    pub preserve_ownership: bool,
    pub max_layer_bytes: u64,
    pub max_entries: u64,
}
impl Default for UnpackOptions {
    fn default() -> Self {
        UnpackOptions {
            allow_devices: false,
            preserve_ownership: false,
            max_layer_bytes: 1 << 40,
            max_entries: 1 << 22,
        }
    }
}
#[derive(Debug, Clone, Default)]
pub struct LayerStats {
    pub entries: u64,
    pub bytes: u64,
}
pub fn apply_layer(
    tar: impl std::io::Read,
    rootfs: &std::path::Path,
    layer: &str,
    _options: &UnpackOptions,
) -> Result<LayerStats> {
    let err =
        |path: &str, e: std::io::Error| Error::Unpack { layer: layer.into(), path: path.into(), reason: e.to_string() };
    let mut archive = tar::Archive::new(tar);
    let mut stats = LayerStats::default();
    for entry in archive.entries().map_err(|e| err("-", e))? {
        let mut entry = entry.map_err(|e| err("-", e))?;
        stats.entries += 1;
        let path = entry.path().map_err(|e| err("-", e))?.to_string_lossy().into_owned();
        let (dir, name) = path.trim_end_matches('/').rsplit_once('/').unwrap_or(("", path.as_str()));
        if name == ".wh..wh..opq" {
            let d = rootfs.join(dir);
            if let Ok(rd) = std::fs::read_dir(&d) {
                for e in rd.flatten() {
                    let p = e.path();
                    let _ = std::fs::remove_dir_all(&p).or_else(|_| std::fs::remove_file(&p));
                }
            }
            continue;
        }
        if let Some(victim) = name.strip_prefix(".wh.") {
            let p = rootfs.join(dir).join(victim);
            let _ = std::fs::remove_dir_all(&p).or_else(|_| std::fs::remove_file(&p));
            continue;
        }
        entry.set_preserve_mtime(true);
        entry.unpack_in(rootfs).map_err(|e| err(&path, e))?;
    }
    Ok(stats)
}
