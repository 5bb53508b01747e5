//! The small documents a pull reads from untrusted or semi-trusted places:
//! a containers-policy.json (delivered by the KBS or a file) and registry
//! credentials in auth.json form. Either may be refused; neither may panic.
//! The first byte picks the parser.
#![no_main]

use arca_image::auth::AuthFile;
use arca_image::signature::Policy;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&which, rest)) = data.split_first() else { return };
    if which % 2 == 0 {
        let _ = Policy::from_json(rest);
    } else {
        let _ = AuthFile::from_json(rest);
    }
});
