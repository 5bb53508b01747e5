#!/usr/bin/env bash
# Install what Arca's build, tests and demo use. Safe to run again: it only
# installs what is missing.
set -euo pipefail

apt_packages=(
  build-essential pkg-config ca-certificates
  qemu-system-x86 ovmf cryptsetup-bin erofs-utils busybox-static cpio
  python3-pip hyperfine time
  docker-registry skopeo umoci apache2-utils gnupg zstd openssl curl
  erofs-utils
)
# sev-snp-measure is pinned: the SNP vectors were made with 0.0.13 and its
# VMSA model changed between releases.
pip_packages=(sev-snp-measure==0.0.13 jwcrypto)

sudo_cmd=()
if [ "$(id -u)" -ne 0 ]; then sudo_cmd=(sudo); fi

missing=()
for p in "${apt_packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "deps: installing ${missing[*]}"
  "${sudo_cmd[@]}" apt-get update -qq
  DEBIAN_FRONTEND=noninteractive "${sudo_cmd[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

for p in "${pip_packages[@]}"; do
  name=${p%%==*}
  want=${p#"$name"}; want=${want#==}
  have=$(python3 -m pip show "$name" 2>/dev/null | awk '/^Version:/ {print $2}')
  if [ -z "$have" ] || { [ -n "$want" ] && [ "$have" != "$want" ]; }; then
    echo "deps: installing $p (pip)"
    python3 -m pip install -q --disable-pip-version-check "$p" 2>/dev/null \
      || python3 -m pip install -q --disable-pip-version-check --break-system-packages "$p"
  fi
done

# The real signed Debian 12 kernel that four TDX RTMR[1] vectors measure
# (not shipped with the vectors): taken from its Debian package once, checked
# against the digests the vectors record, kept in a cache. Not fatal when the
# archive no longer serves that version: those cases then say they skip.
kernel_cache=${ARCA_DEPS_CACHE:-/var/tmp/arca-deps}
kernel=$kernel_cache/vmlinuz-6.1.0-57-amd64
kernel_sha256=85667e6c72245133bd7e3e80bac7d16b26fda15c0a3c68faa4b713850ea526cd
kernel_deb_sha256=14d219d01e1283261817d961dbb3895cb5b4288d0de10e0ba0632a0d993e15bf
if ! echo "$kernel_sha256  $kernel" | sha256sum -c --status 2>/dev/null; then
  echo "deps: fetching linux-image-6.1.0-57-amd64 6.1.192-3 (Debian) for the TDX RTMR[1] vectors"
  mkdir -p "$kernel_cache"
  tmp=$(mktemp -d)
  if (cd "$tmp" && apt-get download -qq linux-image-6.1.0-57-amd64=6.1.192-3 >/dev/null 2>&1 \
        || { "${sudo_cmd[@]}" apt-get update -qq && apt-get download -qq linux-image-6.1.0-57-amd64=6.1.192-3 >/dev/null 2>&1; }) \
     && echo "$kernel_deb_sha256  $(ls "$tmp"/*.deb)" | sha256sum -c --status \
     && dpkg-deb --fsys-tarfile "$tmp"/*.deb | tar -x -C "$tmp" ./boot/vmlinuz-6.1.0-57-amd64 \
     && echo "$kernel_sha256  $tmp/boot/vmlinuz-6.1.0-57-amd64" | sha256sum -c --status; then
    mv "$tmp/boot/vmlinuz-6.1.0-57-amd64" "$kernel"
  else
    echo "deps: could not fetch that kernel; its four TDX cases will be skipped" >&2
  fi
  rm -rf "$tmp"
fi

# The same kernel's modules for QEMU guests (virtio, device-mapper with
# dm-verity, EROFS, overlay, vsock and what they need), unpacked from that
# package into the cache. Not fatal: the guest tests then say they skip.
modules=$kernel_cache/modules-6.1.0-57-amd64
if [ ! -f "$modules/.complete" ]; then
  echo "deps: unpacking the guest kernel modules of linux-image-6.1.0-57-amd64 6.1.192-3"
  mkdir -p "$kernel_cache"
  tmp=$(mktemp -d)
  moddir=./lib/modules/6.1.0-57-amd64/kernel
  if (cd "$tmp" && apt-get download -qq linux-image-6.1.0-57-amd64=6.1.192-3 >/dev/null 2>&1 \
        || { "${sudo_cmd[@]}" apt-get update -qq && apt-get download -qq linux-image-6.1.0-57-amd64=6.1.192-3 >/dev/null 2>&1; }) \
     && echo "$kernel_deb_sha256  $(ls "$tmp"/*.deb)" | sha256sum -c --status \
     && dpkg-deb --fsys-tarfile "$tmp"/*.deb | tar -x -C "$tmp" \
          "$moddir/drivers/virtio" "$moddir/drivers/block" "$moddir/drivers/md" "$moddir/drivers/char" \
          "$moddir/net/vmw_vsock" "$moddir/fs" "$moddir/lib" "$moddir/crypto"; then
    rm -rf "$modules"
    mv "$tmp/lib/modules/6.1.0-57-amd64" "$modules"
    touch "$modules/.complete"
  else
    echo "deps: could not fetch the guest kernel modules; the QEMU guest tests will be skipped" >&2
  fi
  rm -rf "$tmp"
fi

# Its uncompressed vmlinux (the bzImage's XZ payload): QEMU boots it through
# PVH, skipping the slow in-guest decompression under TCG (2 s instead of 6 s).
vmlinux=$kernel_cache/vmlinux-6.1.0-57-amd64
if [ -f "$kernel" ] && [ ! -f "$vmlinux" ]; then
  echo "deps: extracting vmlinux from vmlinuz-6.1.0-57-amd64"
  python3 - "$kernel" "$vmlinux.tmp" <<'PY'
import lzma, sys
image = open(sys.argv[1], "rb").read()
start = image.find(b"\xfd7zXZ\x00")
if start < 0:
    sys.exit("no XZ payload in " + sys.argv[1])
open(sys.argv[2], "wb").write(lzma.LZMADecompressor().decompress(image[start:]))
PY
  mv "$vmlinux.tmp" "$vmlinux"
fi

if ! command -v cargo >/dev/null; then
  echo "deps: cargo is missing; install the Rust toolchain (rustup) first" >&2
  exit 1
fi
for component in rustfmt clippy; do
  if ! rustup component list --installed 2>/dev/null | grep -q "^$component"; then
    rustup component add "$component"
  fi
done

# nydus-image / nydusd for the nydus (RAFS v6) tests: no distribution ships
# them, so they are built once from the crate registry (about 4 minutes on 2
# cores) into the cache. cmake is needed by libz-sys (zlib-ng).
nydus_root=${ARCA_DEPS_CACHE:-/var/tmp/arca-deps}/nydus
if [ ! -x "$nydus_root/bin/nydus-image" ] || [ ! -x "$nydus_root/bin/nydusd" ]; then
  if ! command -v cmake >/dev/null; then
    echo "deps: installing cmake (for nydus-rs)"
    "${sudo_cmd[@]}" apt-get update -qq
    DEBIAN_FRONTEND=noninteractive "${sudo_cmd[@]}" apt-get install -y -qq --no-install-recommends cmake >/dev/null
  fi
  echo "deps: building nydus-rs 2.2.0 (nydus-image, nydusd) into $nydus_root"
  mkdir -p "$nydus_root"
  CARGO_TARGET_DIR="${ARCA_DEPS_CACHE:-/var/tmp/arca-deps}/nydus-build" \
    nice cargo install -q --locked nydus-rs --version 2.2.0 --root "$nydus_root"
  rm -rf "${ARCA_DEPS_CACHE:-/var/tmp/arca-deps}/nydus-build"
fi
