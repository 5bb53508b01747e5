//! STAND-IN until the unpack helper's module lands (replaced on merge).
#![allow(missing_docs)]
use crate::{Error, Result};
pub fn runtime_spec(
    config: &oci_spec::image::ImageConfiguration,
    _rootfs: &std::path::Path,
) -> Result<oci_spec::runtime::Spec> {
    let mut spec = oci_spec::runtime::Spec::default();
    let mut process = spec.process().clone().unwrap_or_default();
    if let Some(c) = config.config() {
        let mut args = c.entrypoint().clone().unwrap_or_default();
        args.extend(c.cmd().clone().unwrap_or_default());
        process.set_args(Some(args));
        if let Some(env) = c.env() {
            process.set_env(Some(env.clone()));
        }
    }
    spec.set_process(Some(process));
    let _ = Error::Config(String::new());
    Ok(spec)
}
