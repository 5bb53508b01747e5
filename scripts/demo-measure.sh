#!/usr/bin/env bash
# Arca demo, launch measurements: `arca firmware inspect` and `arca measure
# snp|tdx|cca` on the firmware, kernels and command lines of the shared
# measurement vectors, each result beside the value the reference tool
# (sev-snp-measure, dstack-mr, realm-measurements) recorded for the same
# inputs. Usage: scripts/demo-measure.sh PATH-TO-arca
set -uo pipefail

arca=${1:?usage: demo-measure.sh PATH-TO-arca}
root=$(cd "$(dirname "$0")/.." && pwd)
m=${ARCA_VECTORS:-$root/../shared/vectors}/measurement
if [ ! -d "$m" ]; then
  echo "demo: measurement vectors not found at $m (set ARCA_VECTORS)" >&2
  exit 1
fi
cd "$m" || exit 1

python3 - "$arca" <<'PY'
import json, subprocess, sys

arca = sys.argv[1]
color = sys.stdout.isatty()
bold, green, red, reset = ("\033[1m", "\033[32m", "\033[31m", "\033[0m") if color else ("", "", "", "")
failures = 0

def run(args):
    shown = " ".join(a if a and " " not in a else repr(a) for a in args)
    print(f"$ arca {shown}")
    p = subprocess.run([arca, *args], capture_output=True, text=True)
    if p.returncode != 0:
        print(f"  {p.stderr.strip()}")
    return p

def compare(label, got, expected):
    global failures
    ok = got == expected
    mark = f"{green}equal to the reference{reset}" if ok else f"{red}DIFFERS from the reference {expected}{reset}"
    print(f"  {label:<7} {got}  {mark}")
    failures += 0 if ok else 1

def title(text):
    print(f"\n{bold}== {text}{reset}")

snp = json.load(open("snp.json"))
tdx = json.load(open("tdx.json"))
cca = json.load(open("cca.json"))

title("Firmware: the GUIDed footer table and SEV metadata of Debian's OVMF.amdsev.fd")
fw = snp["firmware"]["debian-sid-ovmf-amdsev"]["path"]
p = run(["firmware", "inspect", fw])
if p.returncode == 0:
    doc = json.loads(p.stdout)
    for e in doc["footer_table"]:
        print(f"  footer entry {e['guid']}  {e.get('name') or '(unknown to SEV measurement, kept)'}")
    for s in (doc.get("sev") or {}).get("metadata", {}).get("sections", []):
        print(f"  SEV section  {s}")
else:
    failures += 1

for case_id in ["snp-amdsev-v4-1vcpu-basic", "snp-amdsev-v4-2vcpu-basic"]:
    case = next((c for c in snp["cases"] if c["id"] == case_id), None)
    if case is None:
        continue
    title(f"SEV-SNP launch digest: {case['description']}")
    # (--dump-vmsa would write VMSA files into the vectors.)
    p = run(["measure", "snp", *[a for a in case["argv"][1:] if a != "--dump-vmsa"]])
    if p.returncode == 0:
        compare("digest", p.stdout.strip(), case["expected"]["digest_hex"])
    else:
        failures += 1

title("TDX: MRTD of Debian's OVMF.inteltdx.ms.fd, RTMR[1] and RTMR[2] of a direct kernel boot with 2 GiB")
fw = tdx["firmware"]["debian-sid-ovmf-inteltdx"]["path"]
mrtd = next(c for c in tdx["mrtd"] if c["firmware"] == "debian-sid-ovmf-inteltdx")
r1 = next(c for c in tdx["rtmr1"] if c["id"] == "rtmr1-kernel-pe-a-initrd-a-2GiB")
r2 = next(c for c in tdx["rtmr2"] if c["id"] == "rtmr2-cmdline-basic-initrd-a")
p = run(["measure", "tdx", "--firmware", fw, "--kernel", tdx["kernels"]["kernel-pe-a"]["path"],
         "--initrd", "inputs/initrd-a.bin", "--append", r2["qemu_append"], "--memory", "2G"])
if p.returncode == 0:
    out = json.loads(p.stdout)
    compare("mrtd", out["mrtd"], mrtd["mrtd_single_pass"])
    compare("rtmr1", out["rtmr1"], r1["rtmr1"])
    compare("rtmr2", out["rtmr2"], r2["rtmr2"])
    print(f"  rtmr0   not predicted: {out['unpredictable']['rtmr0']}")
else:
    failures += 1

case = cca["cases"][0]
title(f"Arm CCA realm initial measurement: {case['description']}")
argv = []
skip = False
for a in case["argv"][1:]:
    if skip:
        skip = False
        continue
    if a == "--output-dtb":
        argv += ["--dtb", case["generated_dtb"]["path"]]
        skip = True
        continue
    argv.append(a)
argv = [a for a in argv if a != "-vv"]
p = run(["measure", "cca", *argv])
if p.returncode == 0:
    out = json.loads(p.stdout)
    # The reference prints the RIM zero-padded to 64 bytes; the token (and
    # arca) carry it at the digest length.
    got = out["rim"]
    compare("rim", got, case["expected"]["rim_hex"][: len(got)])
else:
    failures += 1

print()
if failures:
    print(f"{red}{failures} measurement(s) did not come out as expected{reset}")
    sys.exit(1)
print(f"{green}every measurement equals the reference tool's value{reset}")
PY
