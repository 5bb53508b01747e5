#!/usr/bin/env bash
# Image pull speed and memory: `arca image pull` (release binary) against
# `skopeo copy docker://… oci:…` + `umoci unpack`, in the same run, from the
# same local docker-registry, for a ~500 MiB image of 5 layers (random and
# compressible data; built once into a cache dir). Prints both times, the
# ratio (target: arca >= 1.5x faster) and arca's peak RSS (target <= 64 MiB).
# Usage: scripts/bench-image.sh PATH-TO-release-arca
set -euo pipefail

arca=${1:?usage: bench-image.sh PATH-TO-release-arca}
arca=$(cd "$(dirname "$arca")" && pwd)/$(basename "$arca")
cache=${ARCA_BENCH_IMAGE_CACHE:-${TMPDIR:-/var/tmp}/arca-bench-image}
runs=${ARCA_BENCH_RUNS:-3}
target_ratio=1.5
target_rss_kib=$((64 * 1024))

for tool in skopeo umoci docker-registry python3; do
  if ! command -v "$tool" >/dev/null; then
    echo "bench-image: $tool is not installed (run make deps)" >&2
    exit 1
  fi
done

# 1. The image, once: an OCI layout of 5 gzip layers, each ~100 MiB
#    uncompressed: one 40 MiB random file and 300 files of compressible text.
if [ ! -f "$cache/layout/index.json" ]; then
  echo "bench-image: building the ~500 MiB test image in $cache (once)"
  rm -rf "$cache" && mkdir -p "$cache"
  python3 - "$cache/layout" <<'PY'
import gzip, hashlib, io, json, os, sys, tarfile
out = sys.argv[1]
os.makedirs(f"{out}/blobs/sha256")
def blob(data):
    d = hashlib.sha256(data).hexdigest()
    with open(f"{out}/blobs/sha256/{d}", "wb") as f:
        f.write(data)
    return {"digest": f"sha256:{d}", "size": len(data)}
def add(tar, name, data, mode=0o644):
    info = tarfile.TarInfo(name); info.size = len(data); info.mode = mode; info.mtime = 1700000000
    tar.addfile(info, io.BytesIO(data))
layers, diff_ids = [], []
for i in range(5):
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w", format=tarfile.PAX_FORMAT) as tar:
        d = tarfile.TarInfo(f"layer{i}"); d.type = tarfile.DIRTYPE; d.mode = 0o755; tar.addfile(d)
        add(tar, f"layer{i}/random.bin", os.urandom(40 << 20))
        for j in range(300):
            line = f"layer {i} file {j}: the quick brown fox jumps over the lazy dog {j * 7919}\n".encode()
            add(tar, f"layer{i}/text/{j:04}.txt", line * ((200 << 10) // len(line)))
    tar_bytes = raw.getvalue()
    diff_ids.append("sha256:" + hashlib.sha256(tar_bytes).hexdigest())
    desc = blob(gzip.compress(tar_bytes, compresslevel=6, mtime=0))
    desc["mediaType"] = "application/vnd.oci.image.layer.v1.tar+gzip"
    layers.append(desc)
    print(f"  layer {i}: {len(tar_bytes) >> 20} MiB tar, {desc['size'] >> 20} MiB gzip", flush=True)
config = {"architecture": "amd64", "os": "linux", "config": {"Cmd": ["/bin/sh"]},
          "rootfs": {"type": "layers", "diff_ids": diff_ids}}
cdesc = blob(json.dumps(config).encode()); cdesc["mediaType"] = "application/vnd.oci.image.config.v1+json"
manifest = {"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "config": cdesc, "layers": layers}
mdesc = blob(json.dumps(manifest).encode()); mdesc["mediaType"] = "application/vnd.oci.image.manifest.v1+json"
mdesc["annotations"] = {"org.opencontainers.image.ref.name": "bench"}
json.dump({"schemaVersion": 2, "manifests": [mdesc]}, open(f"{out}/index.json", "w"))
open(f"{out}/oci-layout", "w").write('{"imageLayoutVersion":"1.0.0"}')
PY
fi

# 2. A local registry holding it.
work=$(mktemp -d "${TMPDIR:-/var/tmp}/arca-bench-image.XXXXXX")
registry_pid=
cleanup() {
  if [ -n "$registry_pid" ]; then kill "$registry_pid" 2>/dev/null || true; wait "$registry_pid" 2>/dev/null || true; fi
  rm -rf "$work"
}
trap cleanup EXIT
# shellcheck source=scripts/registry.sh
. "$(dirname "$0")/registry.sh"
start_registry "$work"
echo '{"default":[{"type":"insecureAcceptAnything"}]}' >"$work/policy.json"
skopeo --policy "$work/policy.json" copy --quiet --dest-tls-verify=false "oci:$cache/layout:bench" "docker://$host/bench:v1"
image=$host/bench:v1

arca_cmd="$arca image pull $image $work/arca --plain-http $host"
ref_cmd="skopeo --policy $work/policy.json copy --quiet --src-tls-verify=false docker://$image oci:$work/oci:bench && umoci unpack --image $work/oci:bench $work/umoci >/dev/null"
if [ "$(id -u)" != 0 ]; then ref_cmd="${ref_cmd/umoci unpack/umoci unpack --rootless}"; fi
prepare="rm -rf $work/arca $work/oci $work/umoci; sync"

# 3. Timing: mean wall time of $runs runs of each, alternating.
mean_s() { # name command
  if command -v hyperfine >/dev/null; then
    hyperfine --style basic --runs "$runs" --prepare "$prepare" --export-json "$work/$1.json" "$2" >&2
    python3 -c "import json,sys; print(json.load(open(sys.argv[1]))['results'][0]['mean'])" "$work/$1.json"
  else
    local total=0 start end
    for _ in $(seq "$runs"); do
      bash -c "$prepare"
      start=$(date +%s.%N); bash -c "$2"; end=$(date +%s.%N)
      total=$(python3 -c "print($total + $end - $start)")
    done
    python3 -c "print($total / $runs)"
  fi
}
echo "bench-image: arca image pull vs skopeo copy + umoci unpack, $runs runs each"
arca_s=$(mean_s arca "$arca_cmd")
ref_s=$(mean_s reference "$ref_cmd")

# 4. Peak memory of one arca pull.
bash -c "$prepare"
/usr/bin/time -v $arca_cmd 2>"$work/time.txt" >/dev/null || { cat "$work/time.txt" >&2; exit 1; }
rss_kib=$(awk -F': ' '/Maximum resident set size/ {print $2}' "$work/time.txt")
files=$(find "$work/arca/rootfs" -type f | wc -l)

python3 - "$arca_s" "$ref_s" "$rss_kib" "$target_ratio" "$target_rss_kib" "$files" <<'PY'
import sys
arca, ref, rss, target, rss_target, files = float(sys.argv[1]), float(sys.argv[2]), int(sys.argv[3]), float(sys.argv[4]), int(sys.argv[5]), sys.argv[6]
ratio = ref / arca
print(f"image pull (~500 MiB, 5 layers, {files} files):")
print(f"  arca image pull            {arca:8.2f} s")
print(f"  skopeo copy + umoci unpack {ref:8.2f} s")
print(f"  ratio {ratio:.2f}x (target >= {target}x): {'met' if ratio >= target else 'NOT met'}")
print(f"  arca peak RSS {rss / 1024:.1f} MiB (target <= {rss_target // 1024} MiB): {'met' if rss <= rss_target else 'NOT met'}")
PY
