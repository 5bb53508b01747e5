//! Start-up of the real parts that Arca's end-to-end tests run against, in
//! one place so no test re-implements it: Debian's `docker-registry` on
//! 127.0.0.1 (plain, TLS, htpasswd), `skopeo` pushes, and OCI image layouts
//! built from tar layers the test describes.
//!
//! QEMU guests (`guest`): the Debian guest kernel and modules, an initramfs
//! per test, a TCG run whose console the test reads.
//!
//! A part that is not installed makes its constructor return `None` after
//! printing `skipped: …` with the reason; `make deps` installs all of them.

pub mod guest;
pub mod layout;
pub mod nydus;
pub mod registry;
pub mod signing;
pub mod tools;
pub mod tree;

pub use layout::{Layer, LayoutBuilder, TarEntry};
pub use registry::{Registry, RegistryOptions};
pub use tools::{arca_binary, require_tools, run, skopeo_copy};
