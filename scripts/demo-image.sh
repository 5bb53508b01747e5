#!/usr/bin/env bash
# Arca demo, part 3: guest image pull. Starts Debian's docker-registry on
# loopback, builds a small image with umoci, pushes it with skopeo encrypted
# to an RSA key (ocicrypt JWE) and signed with a throwaway GPG key (simple
# signing, lookaside store), then pulls it with `arca image pull` under a
# policy that demands that signature, and shows the rootfs and runtime spec.
# Then shows the refusals: no decryption key, and a policy naming another
# signer; and, with erofs-utils installed, the image as verity-protected
# EROFS layers whose trees verify and catch a flipped byte.
# Usage: scripts/demo-image.sh PATH-TO-arca
set -uo pipefail

arca=${1:?usage: demo-image.sh PATH-TO-arca}
# shellcheck source=scripts/demo-common.sh
. "$(dirname "$0")/demo-common.sh"

work=$(mktemp -d)
registry_pid=
cleanup() {
  [ -n "$registry_pid" ] && kill "$registry_pid" 2>/dev/null && wait "$registry_pid" 2>/dev/null
  rm -rf "$work"
}
trap cleanup EXIT

shown_dirs=("$(dirname "$arca")" "$work")
quiet() { "$@" >"$work/last.log" 2>&1 || { cat "$work/last.log"; fail "$1 failed"; }; }

for tool in docker-registry skopeo umoci gpg openssl; do
  command -v "$tool" >/dev/null || fail "$tool is not installed (make deps installs it)"
done

step "Start docker-registry on a free loopback port"
# shellcheck source=scripts/registry.sh
. "$(dirname "$0")/registry.sh"
start_registry "$work" || fail "the registry did not start"
echo "  registry at http://$host"

step "Build an image with umoci: a file, a user of its own in /etc/passwd"
layout=$work/layout
quiet umoci init --layout "$layout"
quiet umoci new --image "$layout:v1"
quiet umoci unpack --image "$layout:v1" "$work/bundle"
rootfs=$work/bundle/rootfs
mkdir -p "$rootfs/etc" "$rootfs/app"
echo 'hello from inside an encrypted, signed image' >"$rootfs/app/hello.txt"
# Large enough that its EROFS image spans many blocks and gets a real hash tree.
head -c 393216 /dev/urandom >"$rootfs/app/data.bin"
printf 'root:x:0:0:root:/root:/bin/sh\napp:x:1000:1000:app:/app:/bin/sh\n' >"$rootfs/etc/passwd"
printf 'root:x:0:\napp:x:1000:\n' >"$rootfs/etc/group"
quiet umoci repack --image "$layout:v1" "$work/bundle"
quiet umoci config --image "$layout:v1" --config.cmd /bin/cat --config.cmd /app/hello.txt \
  --config.env PATH=/bin --config.user app --config.workingdir /app

step "Keys: an RSA key pair for layer encryption, a throwaway GPG key for signing"
quiet openssl genrsa -out "$work/layer-key.pem" 2048
quiet openssl rsa -in "$work/layer-key.pem" -pubout -out "$work/layer-pub.pem"
export GNUPGHOME=$work/gnupg
mkdir -m 700 "$GNUPGHOME"
quiet gpg --batch --passphrase '' --quick-gen-key 'Arca demo signer <demo@arca.invalid>' ed25519 sign 1d
fpr=$(gpg --list-keys --with-colons 2>/dev/null | awk -F: '/^fpr:/ {print $10; exit}')
quiet gpg --export --output "$work/signer.gpg" "$fpr"
quiet gpg --batch --passphrase '' --quick-gen-key 'Someone else <other@arca.invalid>' ed25519 sign 1d
other=$(gpg --list-keys --with-colons 2>/dev/null | awk -F: '/^fpr:/ {f = $10} END {print f}')
quiet gpg --export --output "$work/other.gpg" "$other"
echo "  signer $fpr"

step "Push with skopeo: layers encrypted to the RSA key, manifest signed into a lookaside store"
mkdir -p "$work/registries.d" "$work/sigstore"
printf 'docker:\n  %s:\n    lookaside-staging: file://%s\n' "$host" "$work/sigstore" >"$work/registries.d/demo.yaml"
echo '{"default":[{"type":"insecureAcceptAnything"}]}' >"$work/skopeo-policy.json"
run skopeo --policy "$work/skopeo-policy.json" --registries.d "$work/registries.d" copy --quiet \
  --dest-tls-verify=false --encryption-key "jwe:$work/layer-pub.pem" --sign-by "$fpr" \
  "oci:$layout:v1" "docker://$host/demo/hello:v1" || fail "skopeo copy failed"
find "$work/sigstore" -type f | sed "s#$work/##; s/^/  /"

policy() {
  cat >"$work/policy-$1.json" <<EOF
{
  "default": [{"type": "reject"}],
  "transports": {"docker": {"$host/demo": [
    {"type": "signedBy", "keyType": "GPGKeys", "keyPath": "$work/$1.gpg"}
  ]}}
}
EOF
}
policy signer
policy other

step "Pull it with arca: signature policy checked, layers decrypted, digests verified, unpacked"
dest=$work/hello
run "$arca" image pull "$host/demo/hello:v1" "$dest" --plain-http "$host" \
  --policy "$work/policy-signer.json" --lookaside "$host=file://$work/sigstore" \
  --decryption-key "jwe:$work/layer-key.pem" || fail "arca image pull failed"
echo "  rootfs:"
(cd "$dest/rootfs" && find . -mindepth 1 | sort | sed 's/^/    /')
echo "  app/hello.txt: $(cat "$dest/rootfs/app/hello.txt")"
echo "  config.json process:"
python3 -c 'import json,sys; p=json.load(open(sys.argv[1]))["process"]; print("    args", p["args"]); print("    user", p["user"]); print("    cwd ", p["cwd"]); print("    env ", p["env"])' "$dest/config.json"
grep -q 'hello from inside' "$dest/rootfs/app/hello.txt" || fail "the pulled file is not what was pushed"
echo "${green}  pulled, verified and decrypted${reset}"

step "Refused: the same pull without the decryption key"
if run "$arca" image pull "$host/demo/hello:v1" "$work/nokey" --plain-http "$host" \
  --policy "$work/policy-signer.json" --lookaside "$host=file://$work/sigstore" 2>"$work/nokey.err"; then
  fail "a pull without the key succeeded"
fi
sed 's/^/  /' "$work/nokey.err"
[ ! -e "$work/nokey/rootfs" ] || fail "a refused pull left a rootfs"

step "Refused: a policy that wants another signer"
if run "$arca" image pull "$host/demo/hello:v1" "$work/other" --plain-http "$host" \
  --policy "$work/policy-other.json" --lookaside "$host=file://$work/sigstore" \
  --decryption-key "jwe:$work/layer-key.pem" 2>"$work/other.err"; then
  fail "a pull under the wrong signer's policy succeeded"
fi
sed 's/^/  /' "$work/other.err"
[ ! -e "$work/other/rootfs" ] || fail "a refused pull left a rootfs"
if command -v mkfs.erofs >/dev/null; then
  step "Verity-protected EROFS layers of the same image (policy and key apply as for the pull)"
  out=$work/erofs
  run "$arca" image erofs "$host/demo/hello:v1" "$out" --plain-http "$host" \
    --policy "$work/policy-signer.json" --lookaside "$host=file://$work/sigstore" \
    --decryption-key "jwe:$work/layer-key.pem" | sed "s#$work/##g; s/^/  /" || fail "arca image erofs failed"
  # One line per layer: file, EROFS size (= tree offset), data blocks, root hash.
  python3 -c 'import json,sys
for l in json.load(open(sys.argv[1]))["layers"]:
    print(l["file"], l["erofs_size"], l["verity"]["data_blocks"], l["root_hash"])' "$out/layers.json" >"$work/layers.txt"
  # Checks FILE (EROFS part SIZE bytes, BLOCKS blocks) against ROOT; the exit status is arca's.
  verify() {
    run "$arca" image verity verify "$1" "$1" "$4" --no-superblock --salt - --hash-offset "$2" \
      --data-blocks "$3" 2>&1 | sed "s#$work/##g; s/^/  /"
    return "${PIPESTATUS[0]}"
  }
  while read -r file size blocks root; do
    verify "$out/$file" "$size" "$blocks" "$root" || fail "the tree of $file does not verify"
    cp "$out/$file" "$work/tampered.erofs"
    printf '\xff' | dd of="$work/tampered.erofs" bs=1 seek=$((size / 2)) conv=notrunc status=none
    verify "$work/tampered.erofs" "$size" "$blocks" "$root" && fail "a tampered layer verified"
  done <"$work/layers.txt"
  echo "${green}  layers built, trees verified, a flipped byte caught${reset}"
fi
echo
echo "${green}image demo: every case as expected${reset}"
