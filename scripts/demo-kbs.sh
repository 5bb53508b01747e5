#!/usr/bin/env bash
# Arca demo, part 2: a Key Broker Service releasing a secret through RCAR.
# Starts arca-kbs on loopback, stores a secret, sets policies, and fetches
# the secret with the software sample TEE, printing each step.
# Usage: scripts/demo-kbs.sh DIR-WITH-arca-AND-arca-kbs
set -uo pipefail

bin=${1:?usage: demo-kbs.sh DIR-WITH-BINARIES}
arca=$bin/arca
kbs=$bin/arca-kbs
# shellcheck source=scripts/demo-common.sh
. "$(dirname "$0")/demo-common.sh"

work=$(mktemp -d)
server_pid=
cleanup() {
  [ -n "$server_pid" ] && kill "$server_pid" 2>/dev/null && wait "$server_pid" 2>/dev/null
  rm -rf "$work"
}
trap cleanup EXIT

shown_dirs=("$bin" "$work")

step "Start arca-kbs on a free loopback port (sample TEE allowed: this machine has no TEE)"
"$kbs" --listen 127.0.0.1:0 --data-dir "$work/kbs" --allow-sample-tee >"$work/kbs.out" 2>"$work/kbs.log" &
server_pid=$!
for _ in $(seq 100); do
  url=$(sed -n 's/^listening on //p' "$work/kbs.out" | head -n1)
  [ -n "$url" ] && break
  sleep 0.1
done
[ -n "${url:-}" ] || { cat "$work/kbs.log"; fail "arca-kbs did not start"; }
sed 's/^/  /' "$work/kbs.out"
admin_key=$work/kbs/admin-key.pem
kbs_cli=("$arca" kbs --url "$url")
admin=("${kbs_cli[@]}" config --auth-private-key "$admin_key")

step "Store a secret (admin API, Bearer token signed with the generated Ed25519 admin key)"
printf 'the launch code is 0000' >"$work/secret.txt"
run "${admin[@]}" set-resource --path default/demo/launch-code --resource-file "$work/secret.txt" || fail "set-resource"

step "Set a resource policy that releases nothing, then try to fetch: refused"
run "${admin[@]}" set-resource-policy --deny-all || fail "set-resource-policy --deny-all"
if run "${kbs_cli[@]}" get-resource --path default/demo/launch-code; then
  fail "the secret was released under a deny-all policy"
fi
echo "${green}refused, as the policy says${reset}"

step "Set the policy that releases only to affirming attestations"
run "${admin[@]}" set-resource-policy --affirming || fail "set-resource-policy --affirming"

step "Attest with the sample TEE (auth → challenge → evidence bound to nonce and TEE key → token)"
run "${kbs_cli[@]}" attest >"$work/token" || fail "attest"
python3 - "$work/token" <<'PY'
import base64, json, sys
token = open(sys.argv[1]).read().strip()
claims = json.loads(base64.urlsafe_b64decode(token.split(".")[1] + "=="))
cpu = claims["submods"]["cpu0"]
print("  token: EAR JWT, issuer", claims.get("iss"), "expires", claims.get("exp"))
print("  ear.status:", cpu["ear.status"])
print("  trust vector:", json.dumps(cpu["ear.trustworthiness-vector"]))
PY

step "Fetch the secret through RCAR: JWE-wrapped to the guest's ephemeral key, decrypted by the client"
secret_b64=$(run "${kbs_cli[@]}" get-resource --path default/demo/launch-code) || fail "get-resource"
echo "  base64: $secret_b64"
echo "  decoded: $(printf '%s' "$secret_b64" | base64 -d)"
[ "$(printf '%s' "$secret_b64" | base64 -d)" = "the launch code is 0000" ] || fail "wrong secret"

step "Server metrics (Prometheus)"
python3 - "$url" <<'PY'
import sys, urllib.request
text = urllib.request.urlopen(sys.argv[1] + "/metrics", timeout=5).read().decode()
for line in text.splitlines():
    if line.startswith("#"):
        continue
    if "attest" in line or "resource" in line:
        print("  " + line)
PY

echo
echo "${green}demo: the KBS stored, guarded and released the secret as its policies said${reset}"
