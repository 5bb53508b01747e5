#!/usr/bin/env bash
# Run every cargo-fuzz target for a short time (default 20 s each).
set -euo pipefail
seconds=${1:-20}
cd "$(dirname "$0")/../fuzz"
if ! command -v cargo-fuzz >/dev/null; then
  echo "fuzz: skipped: cargo-fuzz is not installed (cargo install cargo-fuzz)"
  exit 0
fi
if ! rustup toolchain list | grep -q '^nightly'; then
  echo "fuzz: skipped: cargo fuzz needs a nightly toolchain, and none is installed"
  exit 0
fi
for target in $(cargo +nightly fuzz list); do
  echo "fuzz: $target for ${seconds}s"
  cargo +nightly fuzz run "$target" -- -max_total_time="$seconds" -max_len=65536 -rss_limit_mb=2048
done
