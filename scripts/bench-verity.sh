#!/usr/bin/env bash
# dm-verity tree speed: `arca image verity format` (release binary) against
# `veritysetup format` on the same 1 GiB image, same salt and UUID, in the
# same run. Both write a separate hash file (superblock + tree) and fsync it.
# Rounds alternate the two tools so both see the same machine load; the
# ratio is of the medians. Peak RSS is /usr/bin/time's maximum resident set.
# Usage: scripts/bench-verity.sh PATH-TO-release-arca [SIZE-MiB]
set -euo pipefail

arca=${1:?usage: bench-verity.sh PATH-TO-release-arca [SIZE-MiB]}
arca=$(cd "$(dirname "$arca")" && pwd)/$(basename "$arca")
size_mib=${2:-1024}
rounds=${VERITY_BENCH_ROUNDS:-5}
target_ratio=1.8
salt=000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f
uuid=11111111-2222-3333-4444-555555555555

for tool in veritysetup /usr/bin/time python3; do
  if ! command -v "$tool" >/dev/null && [ ! -x "$tool" ]; then
    echo "bench-verity: $tool is not installed (run make deps)" >&2
    exit 1
  fi
done
veritysetup=$(command -v veritysetup)

work=$(mktemp -d "${TMPDIR:-/var/tmp}/arca-bench-verity.XXXXXX")
trap 'rm -rf "$work"' EXIT
data=$work/data.img
head -c $((size_mib << 20)) /dev/urandom >"$data"
cat "$data" >/dev/null # both tools read it from the page cache

# run_once OUT TOOL...: runs the tool once, appends "wall_ms peak_rss_kib" to OUT.
run_once() {
  local out=$1
  shift
  rm -f "$work/hash.img"
  local start end
  start=$(date +%s%N)
  /usr/bin/time -f '%M' -o "$work/rss" "$@" "$data" "$work/hash.img" --salt="$salt" --uuid="$uuid" >"$work/stdout"
  end=$(date +%s%N)
  echo "$(((end - start) / 1000)) $(cat "$work/rss")" >>"$out"
}
root_of() { awk -F'\t' '/^Root hash:/ {print $2}' "$work/stdout"; }

# Same answer first: root hash and hash file.
run_once "$work/warm-arca" "$arca" image verity format
ours_root=$(root_of)
cp "$work/hash.img" "$work/ours.hash"
run_once "$work/warm-vs" "$veritysetup" format
theirs_root=$(root_of)
if [ "$ours_root" != "$theirs_root" ] || ! cmp -s "$work/hash.img" "$work/ours.hash"; then
  echo "bench-verity: results differ (arca $ours_root, veritysetup $theirs_root)" >&2
  exit 1
fi
rm -f "$work/ours.hash"

for ((r = 0; r < rounds; r++)); do
  run_once "$work/arca" "$arca" image verity format
  run_once "$work/vs" "$veritysetup" format
done

python3 - "$work/arca" "$work/vs" "$size_mib" "$target_ratio" "$(nproc)" <<'PY'
import statistics, sys
def load(path):
    rows = [tuple(map(int, line.split())) for line in open(path)]
    return statistics.median(r[0] for r in rows) / 1e3, max(r[1] for r in rows)
(a_ms, a_rss), (v_ms, v_rss) = load(sys.argv[1]), load(sys.argv[2])
size, target, cores = int(sys.argv[3]), float(sys.argv[4]), sys.argv[5]
ratio = v_ms / a_ms
print(f"verity format of {size} MiB ({cores} cores), whole process, median of alternating rounds:")
print(f"  arca image verity format  {a_ms:8.1f} ms  {size / a_ms * 1e3:7.0f} MiB/s  peak RSS {a_rss / 1024:6.1f} MiB")
print(f"  veritysetup format        {v_ms:8.1f} ms  {size / v_ms * 1e3:7.0f} MiB/s  peak RSS {v_rss / 1024:6.1f} MiB")
print(f"  ratio {ratio:.2f}x; target >= {target}x: {'met' if ratio >= target else 'NOT met'}")
PY
