//! Link options for the `arca` binary.

fn main() {
    // The binary is a position-independent executable with ~22k relative
    // relocations; as classic RELA entries they fill 540 KB that the loader
    // reads page by page at every start, which is a third of the run time of
    // a short command such as `arca measure snp`. Packed relative relocations
    // (DT_RELR, glibc 2.36+, binutils 2.38+) shrink them to a few KB and keep
    // the binary position-independent.
    let target_os = std::env::var("CARGO_CFG_TARGET_OS").unwrap_or_default();
    let target_env = std::env::var("CARGO_CFG_TARGET_ENV").unwrap_or_default();
    if target_os == "linux" && target_env == "gnu" {
        println!("cargo:rustc-link-arg-bins=-Wl,-z,pack-relative-relocs");
    }
}
