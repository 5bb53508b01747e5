#!/usr/bin/env bash
# Arca demo: verify real TEE evidence from the shared vectors with `arca verify`
# and show the claims. Usage: scripts/demo.sh PATH-TO-arca
set -uo pipefail

arca=${1:?usage: demo.sh PATH-TO-arca}
root=$(cd "$(dirname "$0")/.." && pwd)
v=${ARCA_VECTORS:-$root/../shared/vectors}/attestation
if [ ! -d "$v" ]; then
  echo "demo: test vectors not found at $v (set ARCA_VECTORS)" >&2
  exit 1
fi

# shellcheck source=scripts/demo-common.sh
. "$(dirname "$0")/demo-common.sh"
failures=0

# show TITLE EXPECTED-EXIT ARGS... : run `arca verify ARGS`, print claims or the error.
show() {
  local title=$1 expect=$2; shift 2
  echo
  echo "${bold}== $title${reset}"
  echo "\$ arca verify $*" | sed "s#$v/##g"
  local out err code
  out=$(mktemp); err=$(mktemp)
  "$arca" verify "$@" >"$out" 2>"$err"; code=$?
  if [ "$code" -eq 0 ]; then
    python3 - "$out" <<'PY'
import json, sys
claims = json.load(open(sys.argv[1]))
keep = ["tee", "processor", "signing_key", "version", "measurement", "mrtd", "rtmr0", "rtmr1", "rtmr2",
        "mrconfigid", "tcb_status", "advisory_ids", "fmspc", "chip_id", "reported_tcb", "vmpl", "policy",
        "report_data", "init_data", "platform", "realm", "reference_values", "svn"]
shown = {k: claims[k] for k in keep if k in claims}
platform = shown.get("platform")
if isinstance(platform, dict) and "sw_components" in platform:
    platform["sw_components"] = [c.get("type") for c in platform["sw_components"]]
text = json.dumps(shown, indent=2)
lines = text.splitlines()
print("\n".join(lines[:60]) + ("\n  ..." if len(lines) > 60 else ""))
print(f"({len(claims)} claims in all)")
PY
  else
    sed 's/^/  /' "$err"
  fi
  if [ "$code" -eq "$expect" ]; then
    echo "${green}exit $code (expected)${reset}"
  else
    echo "${red}exit $code, expected $expect${reset}"
    failures=$((failures + 1))
  fi
  rm -f "$out" "$err"
}

show "AMD SEV-SNP, Milan, VCEK-signed report v2 (chain to built-in AMD roots, dates checked now)" 0 \
  --tee snp --evidence "$v/snp/trustee-milan-vcek-report-v2.bin" --vcek "$v/snp/trustee-milan-vcek.der"
show "AMD SEV-SNP, Genoa, trustee evidence JSON with embedded VCEK" 0 \
  --tee snp --evidence "$v/snp/trustee-genoa-snp-evidence.json"
show "AMD SEV-SNP, Milan, VLEK-signed report v3, while the VLEK was valid" 0 \
  --tee snp --evidence "$v/snp/trustee-milan-vlek-report-v3.bin" --vcek "$v/snp/trustee-milan-vlek.der" \
  --at 2025-06-01T00:00:00Z
show "The same VLEK report today: the VLEK expired on 2025-12-10 (trustee would accept it)" 1 \
  --tee snp --evidence "$v/snp/trustee-milan-vlek-report-v3.bin" --vcek "$v/snp/trustee-milan-vlek.der"
show "Intel TDX quote v4 with DCAP collateral, at the collateral's last valid second" 0 \
  --tee tdx --evidence "$v/tdx/dcapqvl-tdx-quote-v4-fmspcb0c06f.bin" \
  --collateral "$v/tdx/dcapqvl-tdx-quote-v4-fmspcb0c06f.collateral.json" --at 2025-07-19T10:00:34Z
show "The same TDX quote today: the collateral has expired" 1 \
  --tee tdx --evidence "$v/tdx/dcapqvl-tdx-quote-v4-fmspcb0c06f.bin" \
  --collateral "$v/tdx/dcapqvl-tdx-quote-v4-fmspcb0c06f.collateral.json"
show "Arm CCA token with trust anchors and reference values" 0 \
  --tee cca --evidence "$v/cca/trustee-cca-example-token.cbor" \
  --chain "$v/cca/trustee-tastore.json" --collateral "$v/cca/trustee-rvstore.json"

echo
if [ "$failures" -eq 0 ]; then
  echo "${green}demo: every result as expected${reset}"
else
  echo "${red}demo: $failures result(s) differ from what was expected${reset}"
  exit 1
fi
