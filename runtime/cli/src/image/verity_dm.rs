//! `arca image verity open|close`: a dm-verity device from a data device, a
//! hash device and a root hash, as `veritysetup open|close` make it (same
//! argument order and flags), through Arca's own device-mapper code. Linux
//! with device-mapper only (a guest; this machine's host kernel has none).

use std::path::Path;

use anyhow::{Context, Result};
use arca_verity::VerityParams;

/// Opens `data` as `/dev/mapper/NAME` over the tree `params` in `hash`, and
/// prints the node.
pub fn open(data: &Path, name: &str, hash: &Path, root: &str, params: &VerityParams) -> Result<()> {
    let root = hex::decode(root).with_context(|| format!("root hash {root:?}: expected hex"))?;
    let node = arca_verity::dm::open(name, data, hash, params, &root)
        .with_context(|| format!("opening {} as {name}", data.display()))?;
    println!("{}", node.display());
    Ok(())
}

/// Removes the verity device `name`.
pub fn close(name: &str) -> Result<()> {
    arca_verity::dm::close(name).with_context(|| format!("closing {name}"))
}
