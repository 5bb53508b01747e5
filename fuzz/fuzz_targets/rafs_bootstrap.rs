//! A RAFS v6 bootstrap as a hostile registry could serve it: parse it, walk
//! the whole tree (directories, xattrs, symlinks, chunk indexes) and read
//! every file against an empty blob directory. Errors are fine; panics,
//! hangs and unbounded allocations are not.
#![no_main]

use std::io::Read;

use arca_image::nydus::{Bootstrap, Kind, Rafs};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(bootstrap) = Bootstrap::parse(data.to_vec()) else { return };
    let Ok(rafs) = Rafs::new(bootstrap, std::path::Path::new("/nonexistent-blob-dir")) else { return };
    let Ok(entries) = rafs.walk() else { return };
    for entry in entries {
        let _ = rafs.bootstrap().xattrs(&entry.inode);
        match entry.inode.kind {
            Kind::Symlink => {
                let _ = rafs.bootstrap().read_link(&entry.inode);
            }
            Kind::File => {
                if let Ok(mut reader) = rafs.reader(&entry.inode) {
                    let mut buf = [0u8; 4096];
                    // Bootstrap-inline data reads; blob data fails (no blobs).
                    // Holes can be huge: read at most 16 MiB of a file.
                    let mut total = 0usize;
                    while total < 16 << 20 {
                        match reader.read(&mut buf) {
                            Ok(n) if n > 0 => total += n,
                            _ => break,
                        }
                    }
                }
            }
            _ => {}
        }
    }
});
