//! Image config → the pieces of an OCI runtime spec, as the OCI image spec's
//! "Conversion to OCI Runtime Configuration" describes: process args
//! (`Entrypoint` + `Cmd`), env, working directory, user, and annotations
//! (labels plus `org.opencontainers.image.*` from the config's fields).
//!
//! The `User` field is resolved here, in the guest, against the image's own
//! `/etc/passwd` and `/etc/group` read inside the unpacked rootfs (Kata
//! resolves it on the host, where the image is absent, and fails). The files
//! are opened through the rootfs fd with `RESOLVE_IN_ROOT`, so a symlinked
//! `/etc/passwd` cannot make us read a file of the guest itself. Name
//! resolution follows runc's `GetExecUser`, which containerd and umoci use:
//! `name`, `uid`, `name:group`, `uid:gid` and mixes; a numeric user absent
//! from `/etc/passwd` is used as it is (group 0), an unknown name is an error;
//! supplementary groups come from `/etc/group` only when no group is given.

use std::collections::HashMap;
use std::io::Read;
use std::path::Path;

use oci_spec::image::ImageConfiguration;
use oci_spec::runtime::{Process, Spec, User};
use rustix::fs::{FileType, OFlags};

use crate::unpack::root::Root;
use crate::{Error, Result};

/// Largest `/etc/passwd` or `/etc/group` read.
const MAX_ACCOUNT_FILE: u64 = 4 << 20;

/// `PATH` set when the image's env has none (containerd's default).
pub const DEFAULT_PATH: &str = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// Image config (`application/vnd.oci.image.config.v1+json`, Docker's too) → runtime spec pieces;
/// `user` resolved against the rootfs's own /etc/passwd and /etc/group (read without following links out).
///
/// The result is [`Spec::default`] with `process` (args, env, cwd, user),
/// `annotations` and `root.path = "rootfs"` from the image, and no hostname;
/// the caller adds what the sandbox decides (mounts, namespaces, …). An
/// image with neither `Entrypoint` nor `Cmd` gets empty args.
pub fn runtime_spec(config: &ImageConfiguration, rootfs: &Path) -> Result<Spec> {
    let empty = oci_spec::image::Config::default();
    let image = config.config().as_ref().unwrap_or(&empty);

    let mut args: Vec<String> = image.entrypoint().clone().unwrap_or_default();
    args.extend(image.cmd().clone().unwrap_or_default());

    let mut env: Vec<String> = image.env().clone().unwrap_or_default();
    if !env.iter().any(|e| e.starts_with("PATH=")) {
        env.insert(0, DEFAULT_PATH.to_string());
    }

    let cwd = match image.working_dir().as_deref().map(str::trim) {
        None | Some("") => "/".to_string(),
        Some(dir) if dir.starts_with('/') => dir.to_string(),
        Some(dir) => format!("/{dir}"), // Docker takes a relative WorkingDir from /
    };

    let user_arg = image.user().as_deref().unwrap_or("").trim();
    let resolved = if user_arg.is_empty() {
        Resolved { uid: 0, gid: 0, additional_gids: Vec::new() }
    } else {
        let root = Root::open(rootfs).map_err(|e| Error::io(format!("cannot open rootfs {}", rootfs.display()), e))?;
        let passwd = read_account_file(&root, "etc/passwd")?;
        let group = read_account_file(&root, "etc/group")?;
        resolve_user(user_arg, &passwd, &group)?
    };
    let mut user = User::default();
    user.set_uid(resolved.uid);
    user.set_gid(resolved.gid);
    if !resolved.additional_gids.is_empty() {
        user.set_additional_gids(Some(resolved.additional_gids));
    }

    let mut process = Process::default();
    process.set_args(Some(args));
    process.set_env(Some(env));
    process.set_cwd(cwd.into());
    process.set_user(user);

    let mut spec = Spec::default();
    spec.set_process(Some(process));
    spec.set_annotations(Some(annotations(config)));
    spec.set_hostname(None);
    let mut root = oci_spec::runtime::Root::default();
    root.set_path("rootfs".into());
    root.set_readonly(None);
    spec.set_root(Some(root));
    Ok(spec)
}

/// Labels, then the config fields the conversion maps to annotations (these win over labels of the same name).
fn annotations(config: &ImageConfiguration) -> HashMap<String, String> {
    let mut out = HashMap::new();
    let image = config.config().as_ref();
    if let Some(labels) = image.and_then(|c| c.labels().as_ref()) {
        out.extend(labels.iter().map(|(k, v)| (k.clone(), v.clone())));
    }
    let mut put = |key: &str, value: Option<String>| {
        if let Some(value) = value.filter(|v| !v.is_empty()) {
            out.insert(format!("org.opencontainers.image.{key}"), value);
        }
    };
    put("os", Some(config.os().to_string()));
    put("architecture", Some(config.architecture().to_string()));
    put("variant", config.variant().clone());
    put("os.version", config.os_version().clone());
    put("os.features", config.os_features().as_ref().map(|f| f.join(",")));
    put("author", config.author().clone());
    put("created", config.created().clone());
    put("stopSignal", image.and_then(|c| c.stop_signal().clone()));
    put("exposedPorts", image.and_then(|c| c.exposed_ports().as_ref()).map(|p| p.join(",")));
    out
}

/// `rel` inside the rootfs as text, at most [`MAX_ACCOUNT_FILE`] bytes;
/// a missing file reads as empty.
fn read_account_file(root: &Root, rel: &str) -> Result<String> {
    let context = || format!("reading the image's /{rel}");
    let fd = match root.open_in_root(rel.as_bytes(), OFlags::RDONLY | OFlags::NONBLOCK) {
        Ok(fd) => fd,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(String::new()),
        Err(e) => return Err(Error::io(context(), e)),
    };
    let stat = rustix::fs::fstat(&fd).map_err(|e| Error::io(context(), e.into()))?;
    if FileType::from_raw_mode(stat.st_mode) != FileType::RegularFile {
        return Err(Error::Config(format!("/{rel} in the image is not a regular file")));
    }
    let mut data = Vec::new();
    std::fs::File::from(fd).take(MAX_ACCOUNT_FILE + 1).read_to_end(&mut data).map_err(|e| Error::io(context(), e))?;
    if data.len() as u64 > MAX_ACCOUNT_FILE {
        return Err(Error::TooLarge { what: format!("/{rel} in the image"), limit: MAX_ACCOUNT_FILE });
    }
    Ok(String::from_utf8_lossy(&data).into_owned())
}

/// A user resolved to ids.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Resolved {
    /// User id.
    pub uid: u32,
    /// Primary group id.
    pub gid: u32,
    /// Supplementary group ids.
    pub additional_gids: Vec<u32>,
}

struct PasswdEntry<'a> {
    name: &'a str,
    uid: u32,
    gid: u32,
}

struct GroupEntry<'a> {
    name: &'a str,
    gid: u32,
    members: Vec<&'a str>,
}

/// `passwd(5)` lines; malformed lines and NIS `+`/`-` entries are skipped, as libc does.
fn passwd_entries(text: &str) -> impl Iterator<Item = PasswdEntry<'_>> {
    text.lines().filter_map(|line| {
        let mut fields = line.split(':');
        let name = fields.next()?.trim();
        let _password = fields.next()?;
        let uid = fields.next()?.trim().parse().ok()?;
        let gid = fields.next()?.trim().parse().ok()?;
        (!name.is_empty() && !name.starts_with(['+', '-', '#'])).then_some(PasswdEntry { name, uid, gid })
    })
}

/// `group(5)` lines; malformed lines are skipped.
fn group_entries(text: &str) -> impl Iterator<Item = GroupEntry<'_>> {
    text.lines().filter_map(|line| {
        let mut fields = line.split(':');
        let name = fields.next()?.trim();
        let _password = fields.next()?;
        let gid = fields.next()?.trim().parse().ok()?;
        let members = fields.next().unwrap_or("").split(',').map(str::trim).filter(|m| !m.is_empty()).collect();
        (!name.is_empty() && !name.starts_with(['+', '-', '#'])).then_some(GroupEntry { name, gid, members })
    })
}

/// Resolves a config `User` (`user[:group]`, names or ids) against the
/// contents of `/etc/passwd` and `/etc/group`.
pub fn resolve_user(spec: &str, passwd: &str, group: &str) -> Result<Resolved> {
    let (user_arg, group_arg) = match spec.split_once(':') {
        Some((u, g)) => (u.trim(), Some(g.trim())),
        None => (spec.trim(), None),
    };
    if user_arg.is_empty() {
        return Err(Error::Config(format!("user {spec:?}: the user part is empty")));
    }
    let user_num: Option<u32> = user_arg.parse().ok();
    let entry = passwd_entries(passwd).find(|e| e.name == user_arg || Some(e.uid) == user_num);
    let (uid, mut gid, name) = match (entry, user_num) {
        (Some(e), _) => (e.uid, e.gid, Some(e.name)),
        (None, Some(uid)) => (uid, 0, None),
        (None, None) => {
            return Err(Error::Config(format!("user {user_arg:?} is not in the image's /etc/passwd")));
        }
    };
    let mut additional_gids = Vec::new();
    match group_arg {
        Some("") => return Err(Error::Config(format!("user {spec:?}: the group part is empty"))),
        Some(group_arg) => {
            let group_num: Option<u32> = group_arg.parse().ok();
            gid = match group_entries(group).find(|g| g.name == group_arg || Some(g.gid) == group_num) {
                Some(g) => g.gid,
                None => group_num
                    .ok_or_else(|| Error::Config(format!("group {group_arg:?} is not in the image's /etc/group")))?,
            };
        }
        None => {
            if let Some(name) = name {
                for g in group_entries(group).filter(|g| g.members.contains(&name)) {
                    if !additional_gids.contains(&g.gid) {
                        additional_gids.push(g.gid);
                    }
                }
            }
        }
    }
    Ok(Resolved { uid, gid, additional_gids })
}

#[cfg(test)]
mod tests {
    use super::*;

    const PASSWD: &str = "root:x:0:0:root:/root:/bin/sh\n\
        daemon:x:1:1::/:/usr/sbin/nologin\n\
        # comment\n\
        broken line\n\
        +nis\n\
        app:x:1000:1000:App:/home/app:/bin/sh\n\
        1234:x:4321:50::/:/bin/sh\n";
    const GROUP: &str = "root:x:0:\n\
        adm:x:4:daemon,app\n\
        staff:x:50:app\n\
        app:x:1000:\n\
        wheel:x:10: root , app\n";

    fn resolve(spec: &str) -> Result<Resolved> {
        resolve_user(spec, PASSWD, GROUP)
    }

    fn ids(uid: u32, gid: u32, additional: &[u32]) -> Resolved {
        Resolved { uid, gid, additional_gids: additional.to_vec() }
    }

    #[test]
    fn names_and_ids() {
        assert_eq!(resolve("app").unwrap(), ids(1000, 1000, &[4, 50, 10]));
        assert_eq!(resolve("1000").unwrap(), ids(1000, 1000, &[4, 50, 10]));
        assert_eq!(resolve("root").unwrap(), ids(0, 0, &[10]));
        assert_eq!(resolve("daemon").unwrap(), ids(1, 1, &[4]));
        assert_eq!(resolve("app:staff").unwrap(), ids(1000, 50, &[]));
        assert_eq!(resolve("app:4").unwrap(), ids(1000, 4, &[]));
        assert_eq!(resolve("1000:99").unwrap(), ids(1000, 99, &[]));
        assert_eq!(resolve("5555").unwrap(), ids(5555, 0, &[]));
        assert_eq!(resolve("5555:adm").unwrap(), ids(5555, 4, &[]));
        // A numeric name matches by name first, as in runc.
        assert_eq!(resolve("1234").unwrap(), ids(4321, 50, &[]));
    }

    #[test]
    fn unknown_names_are_errors() {
        for spec in ["nobody", "nobody:adm", "app:nogroup", ":adm", "app:", "+nis"] {
            let err = resolve(spec).expect_err(spec).to_string();
            assert!(err.contains("image config"), "{spec}: {err}");
        }
        let err = resolve("ghost").unwrap_err().to_string();
        assert!(err.contains("\"ghost\"") && err.contains("/etc/passwd"), "{err}");
    }

    #[test]
    fn empty_files() {
        assert_eq!(resolve_user("0", "", "").unwrap(), ids(0, 0, &[]));
        assert!(resolve_user("root", "", "").is_err());
    }

    fn config(json: serde_json::Value) -> ImageConfiguration {
        serde_json::from_value(json).unwrap()
    }

    #[test]
    fn process_and_annotations() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("etc")).unwrap();
        std::fs::write(dir.path().join("etc/passwd"), PASSWD).unwrap();
        std::fs::write(dir.path().join("etc/group"), GROUP).unwrap();
        let cfg = config(serde_json::json!({
            "architecture": "arm64", "os": "linux", "variant": "v8", "author": "me",
            "created": "2026-01-01T00:00:00Z",
            "config": {
                "User": "app:staff", "Env": ["FOO=bar"], "Entrypoint": ["/init"], "Cmd": ["--x", "y"],
                "WorkingDir": "srv", "Labels": {"a": "b", "org.opencontainers.image.os": "fake"},
                "ExposedPorts": {"80/tcp": {}}, "StopSignal": "SIGINT"
            },
            "rootfs": {"type": "layers", "diff_ids": []}
        }));
        let spec = runtime_spec(&cfg, dir.path()).unwrap();
        let process = spec.process().as_ref().unwrap();
        assert_eq!(process.args().as_ref().unwrap(), &["/init", "--x", "y"]);
        assert_eq!(process.env().as_ref().unwrap(), &[DEFAULT_PATH, "FOO=bar"]);
        assert_eq!(process.cwd().to_str(), Some("/srv"));
        assert_eq!((process.user().uid(), process.user().gid()), (1000, 50));
        let ann = spec.annotations().as_ref().unwrap();
        assert_eq!(ann["a"], "b");
        assert_eq!(ann["org.opencontainers.image.os"], "linux");
        assert_eq!(ann["org.opencontainers.image.architecture"], "arm64");
        assert_eq!(ann["org.opencontainers.image.variant"], "v8");
        assert_eq!(ann["org.opencontainers.image.exposedPorts"], "80/tcp");
        assert_eq!(ann["org.opencontainers.image.stopSignal"], "SIGINT");
        assert_eq!(spec.root().as_ref().unwrap().path().to_str(), Some("rootfs"));
    }

    #[test]
    fn passwd_is_read_inside_the_rootfs() {
        let outside = tempfile::tempdir().unwrap();
        std::fs::write(outside.path().join("passwd"), "evil:x:0:0::/:/bin/sh\n").unwrap();
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("etc")).unwrap();
        // An absolute symlink resolves inside the rootfs, where it dangles.
        std::os::unix::fs::symlink(outside.path().join("passwd"), dir.path().join("etc/passwd")).unwrap();
        let cfg = config(serde_json::json!({
            "architecture": "amd64", "os": "linux", "config": {"User": "evil"},
            "rootfs": {"type": "layers", "diff_ids": []}
        }));
        let err = runtime_spec(&cfg, dir.path()).unwrap_err().to_string();
        assert!(err.contains("\"evil\""), "{err}");
        // A fifo is refused instead of blocking the pull.
        std::fs::remove_file(dir.path().join("etc/passwd")).unwrap();
        rustix::fs::mknodat(
            rustix::fs::CWD,
            dir.path().join("etc/passwd").as_path(),
            FileType::Fifo,
            rustix::fs::Mode::from_raw_mode(0o644),
            0,
        )
        .unwrap();
        let err = runtime_spec(&cfg, dir.path()).unwrap_err().to_string();
        assert!(err.contains("not a regular file"), "{err}");
    }

    #[test]
    fn defaults_without_config() {
        let dir = tempfile::tempdir().unwrap();
        let cfg = config(serde_json::json!({
            "architecture": "amd64", "os": "linux", "rootfs": {"type": "layers", "diff_ids": []}
        }));
        let spec = runtime_spec(&cfg, dir.path()).unwrap();
        let process = spec.process().as_ref().unwrap();
        assert!(process.args().as_ref().unwrap().is_empty());
        assert_eq!(process.env().as_ref().unwrap(), &[DEFAULT_PATH]);
        assert_eq!(process.cwd().to_str(), Some("/"));
        assert_eq!((process.user().uid(), process.user().gid()), (0, 0));
    }
}
