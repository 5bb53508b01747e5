//! QEMU guests for tests: the Debian 6.1 kernel and its modules from the deps
//! cache, an initramfs built per test (busybox, the modules a test names with
//! their dependencies, host binaries with their shared libraries, a `/init`
//! script), and one QEMU run under TCG whose serial console the test reads.
//!
//! TCG because this machine's `/dev/kvm` cannot run an unmodified Linux
//! guest; PVH boot of the uncompressed `vmlinux` (extracted by
//! `scripts/deps.sh`) takes about 2 s to `/init` instead of 6 s for the
//! bzImage.
//!
//! The `/init` the builder writes mounts proc, sysfs and devtmpfs, prints
//! [`BOOT_MARKER`] with the guest's uptime, loads the modules in dependency
//! order (`MOD-FAIL <module>` on failure), runs the test's script, prints
//! [`DONE_MARKER`] and powers off.

use std::collections::{BTreeMap, HashSet};
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::tools::{run, which};

/// Printed by `/init` once the guest runs user space: `ARCA-GUEST-BOOTED uptime=<seconds>`
/// (may follow firmware output on the same console line).
pub const BOOT_MARKER: &str = "ARCA-GUEST-BOOTED";
/// Printed by `/init` after the test's script.
pub const DONE_MARKER: &str = "ARCA-GUEST-DONE";

/// A QEMU guest that has not ended after this long is killed: a hang guard,
/// far above any expected run (a guest run is seconds even under TCG on a
/// loaded machine), not a timing assertion.
const HANG_GUARD: Duration = Duration::from_secs(900);

/// The Debian 12 guest kernel of the deps cache.
pub const DEBIAN_KERNEL_RELEASE: &str = "6.1.0-57-amd64";

/// Where `scripts/deps.sh` keeps downloads.
pub fn deps_cache() -> PathBuf {
    std::env::var_os("ARCA_DEPS_CACHE").map(PathBuf::from).unwrap_or_else(|| PathBuf::from("/var/tmp/arca-deps"))
}

/// A guest kernel image and its modules tree (`<modules>/kernel/...`).
#[derive(Debug, Clone)]
pub struct GuestKernel {
    /// What QEMU boots: `vmlinux` (PVH) when extracted, else the bzImage.
    pub image: PathBuf,
    /// The unpacked `lib/modules/<release>` directory.
    pub modules: PathBuf,
    /// The kernel release (`uname -r` in the guest).
    pub release: &'static str,
}

impl GuestKernel {
    /// The Debian 6.1 kernel and modules `scripts/deps.sh` put into the deps
    /// cache; `None` after printing `skipped: …` when they are not there.
    pub fn debian() -> Option<Self> {
        let cache = deps_cache();
        let vmlinux = cache.join(format!("vmlinux-{DEBIAN_KERNEL_RELEASE}"));
        let bzimage = cache.join(format!("vmlinuz-{DEBIAN_KERNEL_RELEASE}"));
        let modules = cache.join(format!("modules-{DEBIAN_KERNEL_RELEASE}"));
        let image = if vmlinux.is_file() { vmlinux } else { bzimage };
        if !image.is_file() || !modules.join(".complete").is_file() {
            eprintln!(
                "skipped: no guest kernel {DEBIAN_KERNEL_RELEASE} with modules under {} (make deps fetches them)",
                cache.display()
            );
            return None;
        }
        Some(Self { image, modules, release: DEBIAN_KERNEL_RELEASE })
    }

    /// The `.ko` files for `names` and everything they depend on (from each
    /// module's `.modinfo` `depends=`), dependencies first, each once.
    /// Names may use `-` or `_` (`dm-verity`, `dm_verity`). Soft
    /// dependencies are not followed: name them (e.g. `crc32c_generic`
    /// before `erofs`).
    pub fn module_closure(&self, names: &[&str]) -> Vec<PathBuf> {
        let mut index = BTreeMap::new();
        index_modules(&self.modules, &mut index);
        let mut order = Vec::new();
        let mut seen = HashSet::new();
        for name in names {
            self.visit(&normalize(name), &index, &mut seen, &mut order);
        }
        order
    }

    fn visit(
        &self,
        name: &str,
        index: &BTreeMap<String, PathBuf>,
        seen: &mut HashSet<String>,
        order: &mut Vec<PathBuf>,
    ) {
        if !seen.insert(name.to_owned()) {
            return;
        }
        let path = index.get(name).unwrap_or_else(|| panic!("module {name} not under {}", self.modules.display()));
        let bytes = std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        for dep in modinfo(&bytes, "depends").split(',').filter(|d| !d.is_empty()) {
            self.visit(&normalize(dep), index, seen, order);
        }
        order.push(path.clone());
    }
}

fn normalize(name: &str) -> String {
    name.replace('-', "_")
}

fn index_modules(dir: &Path, index: &mut BTreeMap<String, PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else { return };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            index_modules(&path, index);
        } else if path.extension().is_some_and(|e| e == "ko") {
            if let Some(stem) = path.file_stem().and_then(|s| s.to_str()) {
                index.insert(normalize(stem), path);
            }
        }
    }
}

/// The value of `key=` in a module's `.modinfo` strings (NUL-separated).
fn modinfo(ko: &[u8], key: &str) -> String {
    let needle = format!("{key}=");
    ko.split(|b| *b == 0)
        .find_map(|s| s.strip_prefix(needle.as_bytes()))
        .map(|v| String::from_utf8_lossy(v).into_owned())
        .unwrap_or_default()
}

/// An initramfs being assembled in a directory.
#[derive(Debug)]
pub struct Initramfs {
    root: PathBuf,
    modules: Vec<String>,
    release: String,
}

impl Initramfs {
    /// Starts one under `dir/root` with busybox as `/bin/busybox` (the static
    /// build from `busybox-static`).
    pub fn new(dir: &Path, kernel: &GuestKernel) -> Self {
        let root = dir.join("root");
        for sub in ["bin", "dev", "proc", "sys", "mnt", "tmp", "lib/modules"] {
            std::fs::create_dir_all(root.join(sub)).expect("initramfs dirs");
        }
        let busybox = which("busybox").expect("busybox (busybox-static) is installed");
        std::fs::copy(&busybox, root.join("bin/busybox")).expect("copy busybox");
        Self { root, modules: Vec::new(), release: kernel.release.to_owned() }
    }

    /// Adds the modules `names` with their dependencies; `/init` loads them in order.
    pub fn modules(&mut self, kernel: &GuestKernel, names: &[&str]) -> &mut Self {
        let dir = self.root.join("lib/modules").join(&self.release);
        std::fs::create_dir_all(&dir).expect("modules dir");
        for ko in kernel.module_closure(names) {
            let name = ko.file_name().and_then(|n| n.to_str()).expect("module file name").to_owned();
            if !self.modules.contains(&name) {
                std::fs::copy(&ko, dir.join(&name)).expect("copy module");
                self.modules.push(name);
            }
        }
        self
    }

    /// Copies the host binary `host` to `guest` (an absolute path), stripped
    /// of debug info when `strip` is installed, with every shared library
    /// `ldd` lists at its host path (and the dynamic loader).
    pub fn binary(&mut self, host: &Path, guest: &str) -> &mut Self {
        let dest = self.path(guest);
        if which("strip").is_some() {
            run(Command::new("strip").arg("-o").arg(&dest).arg(host));
        } else {
            std::fs::copy(host, &dest).expect("copy binary");
        }
        let out = Command::new("ldd").arg(host).output().expect("run ldd");
        for line in String::from_utf8_lossy(&out.stdout).lines() {
            // `libc.so.6 => /lib/x86_64-linux-gnu/libc.so.6 (0x…)` or `/lib64/ld-linux-x86-64.so.2 (0x…)`.
            let path = match line.split_once("=>") {
                Some((_, rest)) => rest.split_whitespace().next(),
                None => line.split_whitespace().next(),
            };
            if let Some(lib) = path.filter(|p| p.starts_with('/')) {
                let target = self.path(lib);
                if !target.exists() {
                    std::fs::copy(lib, &target).unwrap_or_else(|e| panic!("copy {lib}: {e}"));
                }
            }
        }
        self
    }

    /// Writes `contents` to `guest` with permission bits `mode`.
    pub fn file(&mut self, guest: &str, contents: &[u8], mode: u32) -> &mut Self {
        use std::os::unix::fs::PermissionsExt;
        let dest = self.path(guest);
        std::fs::write(&dest, contents).expect("write initramfs file");
        std::fs::set_permissions(&dest, std::fs::Permissions::from_mode(mode)).expect("chmod");
        self
    }

    /// Writes `/init`: the common start (mounts, marker, modules), then
    /// `script` (busybox `sh`, applets on PATH), then the done marker and power-off.
    pub fn init(&mut self, script: &str) -> &mut Self {
        let init = format!(
            r#"#!/bin/busybox sh
/bin/busybox --install -s /bin
export PATH=/bin
mount -t proc proc /proc
mount -t sysfs sys /sys
mount -t devtmpfs dev /dev
echo "{BOOT_MARKER} uptime=$(cut -d' ' -f1 /proc/uptime)"
for ko in {modules}; do
  insmod /lib/modules/{release}/$ko || echo "MOD-FAIL $ko"
done
{script}
echo "{DONE_MARKER} uptime=$(cut -d' ' -f1 /proc/uptime)"
poweroff -f
"#,
            modules = self.modules.join(" "),
            release = self.release,
        );
        self.file("/init", init.as_bytes(), 0o755)
    }

    /// Packs the tree as an uncompressed `newc` cpio archive at `out`
    /// (owned by root), as the kernel unpacks an initramfs.
    pub fn build(&self, out: &Path) -> PathBuf {
        let file = std::fs::File::create(out).expect("create initramfs");
        let mut find = Command::new("find")
            .args([".", "-print0"])
            .current_dir(&self.root)
            .stdout(Stdio::piped())
            .spawn()
            .expect("run find");
        let status = Command::new("cpio")
            .args(["--null", "--quiet", "-o", "-H", "newc", "-R", "0:0"])
            .current_dir(&self.root)
            .stdin(find.stdout.take().expect("find stdout"))
            .stdout(file)
            .status()
            .expect("run cpio");
        assert!(status.success() && find.wait().expect("wait find").success(), "cpio failed");
        out.to_path_buf()
    }

    fn path(&self, guest: &str) -> PathBuf {
        let dest = self.root.join(guest.trim_start_matches('/'));
        if let Some(dir) = dest.parent() {
            std::fs::create_dir_all(dir).expect("initramfs dir");
        }
        dest
    }
}

/// One disk of the guest (`/dev/vda`, `/dev/vdb`, … in order).
#[derive(Debug, Clone)]
pub struct Drive {
    /// The raw image on the host.
    pub path: PathBuf,
    /// Attached read-only.
    pub read_only: bool,
}

/// A QEMU (TCG) run: kernel, initramfs, command line, disks.
#[derive(Debug, Clone)]
pub struct Guest {
    /// The kernel image.
    pub kernel: PathBuf,
    /// The initramfs.
    pub initrd: PathBuf,
    /// Kernel command line after `console=ttyS0 panic=-1`.
    pub append: String,
    /// Virtio disks.
    pub drives: Vec<Drive>,
    /// Guest memory in MiB (the initramfs is unpacked into it).
    pub memory_mib: u32,
}

/// What a guest run printed.
#[derive(Debug, Clone)]
pub struct GuestRun {
    /// Everything on the serial console (kernel messages and `/init` output).
    pub console: String,
    /// The guest's uptime at [`BOOT_MARKER`], if it got there.
    pub boot_uptime: Option<f64>,
    /// Host wall time from QEMU start to exit.
    pub wall: Duration,
}

impl GuestRun {
    /// The console lines starting with `prefix`, prefix removed.
    pub fn lines_with(&self, prefix: &str) -> Vec<String> {
        self.console.lines().filter_map(|l| l.trim_end_matches('\r').strip_prefix(prefix)).map(str::to_owned).collect()
    }

    /// Whether `/init` got through the test's script.
    pub fn finished(&self) -> bool {
        self.console.contains(DONE_MARKER)
    }
}

impl Guest {
    /// A guest of `kernel` with `initrd`, 768 MiB, no disks.
    pub fn new(kernel: &GuestKernel, initrd: &Path) -> Self {
        Self {
            kernel: kernel.image.clone(),
            initrd: initrd.to_path_buf(),
            append: "quiet".into(),
            drives: Vec::new(),
            memory_mib: 768,
        }
    }

    /// Adds a virtio disk.
    pub fn drive(&mut self, path: &Path, read_only: bool) -> &mut Self {
        self.drives.push(Drive { path: path.to_path_buf(), read_only });
        self
    }

    /// The QEMU command line.
    pub fn command(&self) -> Command {
        let mut cmd = Command::new("qemu-system-x86_64");
        cmd.args(["-machine", "pc", "-accel", "tcg", "-cpu", "max", "-smp", "1", "-m"])
            .arg(self.memory_mib.to_string())
            .args(["-nodefaults", "-nographic", "-no-reboot", "-serial", "stdio"])
            .arg("-kernel")
            .arg(&self.kernel)
            .arg("-initrd")
            .arg(&self.initrd)
            .arg("-append")
            .arg(format!("console=ttyS0 panic=-1 {}", self.append));
        for drive in &self.drives {
            let mut spec = format!("file={},format=raw,if=virtio", drive.path.display());
            if drive.read_only {
                spec.push_str(",readonly=on");
            }
            cmd.arg("-drive").arg(spec);
        }
        cmd.stdin(Stdio::null()).stdout(Stdio::piped()).stderr(Stdio::piped());
        cmd
    }

    /// Boots the guest and waits for it to power off (or die); panics when
    /// QEMU cannot start or fails.
    pub fn run(&self) -> GuestRun {
        let start = Instant::now();
        let mut child = self.command().spawn().expect("start qemu-system-x86_64");
        let mut stdout = child.stdout.take().expect("qemu stdout");
        let mut stderr = child.stderr.take().expect("qemu stderr");
        let reader = std::thread::spawn(move || {
            let mut bytes = Vec::new();
            let _ = stdout.read_to_end(&mut bytes);
            bytes
        });
        let err_reader = std::thread::spawn(move || {
            let mut text = String::new();
            let _ = stderr.read_to_string(&mut text);
            text
        });
        let status = loop {
            if let Some(status) = child.try_wait().expect("wait qemu") {
                break status;
            }
            if start.elapsed() > HANG_GUARD {
                let _ = child.kill();
                break child.wait().expect("wait killed qemu");
            }
            std::thread::sleep(Duration::from_millis(50));
        };
        let wall = start.elapsed();
        let console = String::from_utf8_lossy(&reader.join().expect("console reader")).into_owned();
        let stderr = err_reader.join().expect("stderr reader");
        assert!(status.success(), "qemu failed ({status}):\n{stderr}\nconsole:\n{console}");
        let boot_uptime = boot_uptime(&console);
        GuestRun { console, boot_uptime, wall }
    }
}

/// The uptime `/init` printed with [`BOOT_MARKER`].
fn boot_uptime(console: &str) -> Option<f64> {
    let (_, rest) = console.split_once(BOOT_MARKER)?;
    let value = rest.trim_start().strip_prefix("uptime=")?;
    let end = value.find(|c: char| !(c.is_ascii_digit() || c == '.')).unwrap_or(value.len());
    value[..end].parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn modinfo_reads_nul_separated_keys() {
        let ko = b"\x7fELF junk\0license=GPL\0depends=dm-mod,dm-bufio\0name=dm_verity\0";
        assert_eq!(modinfo(ko, "depends"), "dm-mod,dm-bufio");
        assert_eq!(modinfo(ko, "softdep"), "");
    }

    #[test]
    fn boot_uptime_follows_firmware_output() {
        let console = "\x1bc\x1b[?7lSeaBIOS\r\nBooting from ROM..ARCA-GUEST-BOOTED uptime=4.74\r\nOPENED\r\n";
        assert_eq!(boot_uptime(console), Some(4.74));
        assert_eq!(boot_uptime("Kernel panic"), None);
    }
}
