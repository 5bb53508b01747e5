#!/usr/bin/env bash
# Launch-measurement speed: `arca measure snp` (release binary) against the
# reference sev-snp-measure (PyPI) on the same inputs, in the same run,
# each timed as a whole process (start-up, reading files, hashing, output).
# Usage: scripts/bench-measure.sh PATH-TO-release-arca
set -euo pipefail

arca=${1:?usage: bench-measure.sh PATH-TO-release-arca}
arca=$(cd "$(dirname "$arca")" && pwd)/$(basename "$arca")
root=$(cd "$(dirname "$0")/.." && pwd)
m=${ARCA_VECTORS:-$root/../shared/vectors}/measurement
target_ratio=20

if [ ! -d "$m" ]; then
  echo "bench-measure: vectors not found at $m (set ARCA_VECTORS)" >&2
  exit 1
fi
# The reference's own entry point (not a version-manager shim in front of it).
ref=$(python3 - <<'PY'
import os, shutil, sysconfig
p = os.path.join(sysconfig.get_path("scripts"), "sev-snp-measure")
print(p if os.access(p, os.X_OK) else (shutil.which("sev-snp-measure") or ""))
PY
)
if [ -z "$ref" ]; then
  echo "bench-measure: sev-snp-measure is not installed (run make deps)" >&2
  exit 1
fi
cd "$m"

fw=firmware/debian-sid-ovmf-amdsev-2026.08+ds-2/OVMF.amdsev.fd
declare -A cases=(
  ["snp-1vcpu"]="--mode snp --vcpus 1 --vcpu-type EPYC-v4 --ovmf $fw --kernel inputs/kernel-a.bin --initrd inputs/initrd-a.bin --append console=ttyS0"
  ["snp-64vcpu"]="--mode snp --vcpus 64 --vcpu-type EPYC-Genoa --guest-features 0x21 --ovmf $fw --kernel inputs/kernel-b.bin --initrd inputs/initrd-b.bin --append console=ttyS0"
)
order=(snp-1vcpu snp-64vcpu)

# mean_ms CMD...: mean wall time of one run in milliseconds.
mean_ms() {
  if command -v hyperfine >/dev/null; then
    local json
    json=$(mktemp)
    hyperfine -N --warmup 5 --min-runs 40 --style none --export-json "$json" "$*" >/dev/null
    python3 -c 'import json,sys; print("%.3f" % (json.load(open(sys.argv[1]))["results"][0]["mean"] * 1e3))' "$json"
    rm -f "$json"
  else
    local runs=40 start end i
    for i in 1 2 3 4 5; do "$@" >/dev/null; done
    start=$(date +%s%N)
    for ((i = 0; i < runs; i++)); do "$@" >/dev/null; done
    end=$(date +%s%N)
    python3 -c "print('%.3f' % (($end - $start) / $runs / 1e6))"
  fi
}

echo "launch measurement, whole process: arca measure snp vs sev-snp-measure $("$ref" --version 2>&1 | awk '{print $NF}')"
echo "timer: $(command -v hyperfine >/dev/null && echo "hyperfine $(hyperfine --version | awk '{print $2}')" || echo 'shell loop (date +%s%N)')"
worst=
for name in "${order[@]}"; do
  read -r -a args <<<"${cases[$name]}"
  ours=$("$arca" measure snp "${args[@]}")
  theirs=$("$ref" "${args[@]}")
  if [ "$ours" != "$theirs" ]; then
    echo "bench-measure: $name: outputs differ (arca $ours, reference $theirs)" >&2
    exit 1
  fi
  t_arca=$(mean_ms "$arca" measure snp "${args[@]}")
  t_ref=$(mean_ms "$ref" "${args[@]}")
  ratio=$(python3 -c "print('%.1f' % ($t_ref / $t_arca))")
  printf '%-11s arca %8.2f ms   sev-snp-measure %8.2f ms   %6.1fx faster\n' "$name" "$t_arca" "$t_ref" "$ratio"
  worst=$(python3 -c "w='$worst'; print($ratio if not w else min(float(w), $ratio))")
done
if python3 -c "import sys; sys.exit(0 if $worst >= $target_ratio else 1)"; then
  echo "target >= ${target_ratio}x: met (lowest ${worst}x)"
else
  echo "target >= ${target_ratio}x: NOT met (lowest ${worst}x)"
fi
