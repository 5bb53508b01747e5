#!/usr/bin/env bash
# Install what Arca's build, tests and demo use. Safe to run again: it only
# installs what is missing.
set -euo pipefail

apt_packages=(
  build-essential pkg-config ca-certificates
  qemu-system-x86 ovmf cryptsetup-bin
  python3-pip hyperfine
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

if ! command -v cargo >/dev/null; then
  echo "deps: cargo is missing; install the Rust toolchain (rustup) first" >&2
  exit 1
fi
for component in rustfmt clippy; do
  if ! rustup component list --installed 2>/dev/null | grep -q "^$component"; then
    rustup component add "$component"
  fi
done
