//! `FsStore` and `MemoryStore` on real files: key safety, replacement,
//! persistence, concurrency and crash safety.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::sync::Arc;

use arca_kbs::storage::{FsStore, MemoryStore, Namespace, Store};
use arca_kbs::Error;

fn stores(dir: &std::path::Path) -> Vec<(&'static str, Box<dyn Store>)> {
    vec![("fs", Box::new(FsStore::open(dir).unwrap())), ("memory", Box::new(MemoryStore::new()))]
}

#[test]
fn put_get_replace_delete_list() {
    let dir = tempfile::tempdir().unwrap();
    for (name, s) in stores(dir.path()) {
        let ns = Namespace::Resources;
        assert_eq!(s.get(ns, "repo/type/tag").unwrap(), None, "{name}");
        s.put(ns, "repo/type/tag", b"one").unwrap();
        s.put(ns, "repo/type/tag", b"two").unwrap();
        assert_eq!(s.get(ns, "repo/type/tag").unwrap().as_deref(), Some(&b"two"[..]), "{name}");
        assert_eq!(s.get(Namespace::ReferenceValues, "repo/type/tag").unwrap(), None, "namespaces are separate");
        s.put(ns, "a", b"").unwrap();
        assert_eq!(s.list(ns).unwrap(), vec!["a".to_string(), "repo/type/tag".to_string()], "{name}");
        assert!(s.delete(ns, "a").unwrap());
        assert!(!s.delete(ns, "a").unwrap());
        assert_eq!(s.list(ns).unwrap(), vec!["repo/type/tag".to_string()]);
    }
}

#[test]
fn hostile_keys_stay_inside_the_namespace_directory() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("store");
    let s = FsStore::open(&root).unwrap();
    let keys = ["..", "../escape", "../../etc/passwd", "/abs/path", "a\0b", ".hidden", "./x", "%2F", "repo/../../x"];
    for key in keys {
        s.put(Namespace::Resources, key, key.as_bytes()).unwrap();
    }
    // Nothing was written outside the resources directory.
    let outside: Vec<_> = std::fs::read_dir(dir.path()).unwrap().map(|e| e.unwrap().file_name()).collect();
    assert_eq!(outside, vec![std::ffi::OsString::from("store")]);
    let mut in_root: Vec<_> =
        std::fs::read_dir(&root).unwrap().map(|e| e.unwrap().file_name().into_string().unwrap()).collect();
    in_root.sort();
    assert_eq!(in_root, ["attestation-policy", "reference-values", "resource-policy", "resources"]);
    let files = std::fs::read_dir(root.join("resources")).unwrap().count();
    assert_eq!(files, keys.len());
    for key in keys {
        assert_eq!(s.get(Namespace::Resources, key).unwrap().as_deref(), Some(key.as_bytes()), "{key:?}");
    }
    let mut sorted: Vec<String> = keys.iter().map(|k| k.to_string()).collect();
    sorted.sort();
    assert_eq!(s.list(Namespace::Resources).unwrap(), sorted);
}

#[test]
fn empty_and_overlong_keys_and_oversized_values_are_rejected() {
    let dir = tempfile::tempdir().unwrap();
    let fs = FsStore::open(dir.path()).unwrap().with_max_value_size(8);
    let mem = MemoryStore::new().with_max_value_size(8);
    for s in [&fs as &dyn Store, &mem] {
        assert!(matches!(s.put(Namespace::Resources, "", b"x"), Err(Error::InvalidKey { .. })));
        assert!(matches!(s.get(Namespace::Resources, &"k".repeat(2000)), Err(Error::InvalidKey { .. })));
        let e = s.put(Namespace::Resources, "k", b"123456789").unwrap_err();
        assert!(matches!(e, Error::TooLarge { found: 9, limit: 8, .. }), "{e}");
        assert_eq!(e.kbs_error_variant(), Some("PluginInternalError"));
        s.put(Namespace::Resources, "k", b"12345678").unwrap();
    }
    // 100 slashes encode to 300 bytes: too long for a file name, refused rather than truncated.
    let e = fs.put(Namespace::Resources, &"/".repeat(100), b"x").unwrap_err();
    assert!(matches!(e, Error::InvalidKey { .. }), "{e}");
    assert_eq!(e.http_status(), 404);
}

#[test]
fn values_survive_reopen_and_stale_temporaries_are_cleaned() {
    let dir = tempfile::tempdir().unwrap();
    {
        let s = FsStore::open(dir.path()).unwrap();
        s.put(Namespace::AttestationPolicy, "default", b"package policy").unwrap();
        s.put(Namespace::Resources, "r/t/1", &[0u8, 1, 2, 255]).unwrap();
    }
    let stale = dir.path().join("resources/.tmp-999-0");
    std::fs::write(&stale, b"half").unwrap();
    let s = FsStore::open(dir.path()).unwrap();
    assert!(!stale.exists());
    assert_eq!(s.get(Namespace::AttestationPolicy, "default").unwrap().as_deref(), Some(&b"package policy"[..]));
    assert_eq!(s.get(Namespace::Resources, "r/t/1").unwrap().as_deref(), Some(&[0u8, 1, 2, 255][..]));
    assert_eq!(s.list(Namespace::Resources).unwrap(), vec!["r/t/1".to_string()]);
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(dir.path().join("resources/r%2Ft%2F1")).unwrap().permissions().mode();
    assert_eq!(mode & 0o777, 0o600);
}

#[test]
fn concurrent_writers_never_tear_a_value() {
    let dir = tempfile::tempdir().unwrap();
    let s = Arc::new(FsStore::open(dir.path()).unwrap());
    let threads: Vec<_> = (0..8u8)
        .map(|t| {
            let s = Arc::clone(&s);
            std::thread::spawn(move || {
                for i in 0..50u32 {
                    // Each writer's value is one byte repeated, 64 KiB long.
                    s.put(Namespace::Resources, "shared/key/x", &vec![t; 65536]).unwrap();
                    s.put(Namespace::Resources, &format!("own/{t}/{i}"), &i.to_le_bytes()).unwrap();
                    let v = s.get(Namespace::Resources, "shared/key/x").unwrap().unwrap();
                    assert_eq!(v.len(), 65536);
                    assert!(v.iter().all(|b| *b == v[0]), "torn read");
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    let keys = s.list(Namespace::Resources).unwrap();
    assert_eq!(keys.len(), 8 * 50 + 1);
    for t in 0..8 {
        for i in 0..50u32 {
            let v = s.get(Namespace::Resources, &format!("own/{t}/{i}")).unwrap().unwrap();
            assert_eq!(v, i.to_le_bytes());
        }
    }
    assert!(std::fs::read_dir(dir.path().join("resources")).unwrap().all(|e| !e
        .unwrap()
        .file_name()
        .to_string_lossy()
        .starts_with('.')));
}

const CHILD_ENV: &str = "ARCA_KBS_CRASH_CHILD_DIR";

fn crash_value(i: u32) -> Vec<u8> {
    // 32 KiB whose every 4-byte word is i: a torn write shows as a mix.
    i.to_le_bytes().repeat(8192)
}

/// Runs as the child of `acknowledged_writes_survive_sigkill`: writes forever
/// and prints `acked <i>` after each `put` returned `Ok`.
#[test]
fn crash_child_writer() {
    let Ok(dir) = std::env::var(CHILD_ENV) else { return };
    let s = FsStore::open(&dir).unwrap();
    let mut out = std::io::stdout().lock();
    for i in 0u32.. {
        // Rewrite a shared key each round as well, so a kill can land mid-replace.
        s.put(Namespace::Resources, "shared", &crash_value(i)).unwrap();
        s.put(Namespace::Resources, &format!("k/{i}"), &crash_value(i)).unwrap();
        use std::io::Write;
        writeln!(out, "acked {i}").unwrap();
        out.flush().unwrap();
    }
}

#[test]
fn acknowledged_writes_survive_sigkill() {
    let dir = tempfile::tempdir().unwrap();
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args(["crash_child_writer", "--exact", "--nocapture", "--test-threads=1"])
        .env(CHILD_ENV, dir.path())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let mut acked = None;
    for line in BufReader::new(stdout).lines() {
        let line = line.unwrap();
        if let Some(i) = line.strip_prefix("acked ") {
            let i: u32 = i.parse().unwrap();
            acked = Some(i);
            if i >= 150 {
                break;
            }
        }
    }
    // Kill while the child keeps writing (SIGKILL: no destructors, no flush).
    child.kill().unwrap();
    child.wait().unwrap();
    let last = acked.expect("the child acknowledged writes");
    assert!(last >= 150);

    let s = FsStore::open(dir.path()).unwrap();
    for i in 0..=last {
        let v = s.get(Namespace::Resources, &format!("k/{i}")).unwrap();
        assert_eq!(v.as_deref(), Some(&crash_value(i)[..]), "acknowledged value k/{i} lost or torn");
    }
    // The shared key holds one complete value, at least as new as the last acknowledged one.
    let shared = s.get(Namespace::Resources, "shared").unwrap().unwrap();
    assert_eq!(shared.len(), 32768);
    let word = u32::from_le_bytes(shared[..4].try_into().unwrap());
    assert!(word >= last, "shared holds {word}, older than acknowledged {last}");
    assert_eq!(shared, crash_value(word));
    // Any further key is a whole value too (its put may have completed unacknowledged).
    for key in s.list(Namespace::Resources).unwrap() {
        if let Some(i) = key.strip_prefix("k/") {
            let i: u32 = i.parse().unwrap();
            assert_eq!(s.get(Namespace::Resources, &key).unwrap().unwrap(), crash_value(i));
        }
    }
}
