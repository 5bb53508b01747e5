# Arca: build, test and demo entry points. Every target installs what it
# needs first (`make deps`, idempotent).

SHELL := /bin/bash
CARGO ?= cargo
# A cache outside the clone when the machine has /var/tmp (CI clones fresh),
# one per checkout path: test binaries embed their checkout's path
# (CARGO_MANIFEST_DIR, for fixtures and example files), and cargo judges a
# binary fresh by source paths relative to each package, so two checkouts
# sharing a target directory run each other's binaries, which then read
# files from the other checkout (or from a path that no longer exists).
export CARGO_TARGET_DIR ?= $(if $(wildcard /var/tmp),/var/tmp/arca-target$(subst /,-,$(CURDIR)),$(CURDIR)/target)
export ARCA_VECTORS ?= $(abspath $(CURDIR)/../shared/vectors)

.PHONY: all deps build test fmt fmt-check lint unit demo bench fuzz clean

all: build

## deps: install system packages and Python tools (idempotent).
deps:
	@scripts/deps.sh

## build: compile the whole workspace, tests and benches included.
build: deps
	$(CARGO) build --workspace --all-targets

## test: format check, clippy, then the whole test suite.
test: deps fmt-check lint unit

unit:
	$(CARGO) test --workspace --all-targets 2>&1 | tee "$(CARGO_TARGET_DIR)/test.log"; test $${PIPESTATUS[0]} -eq 0
	@scripts/test-summary.sh "$(CARGO_TARGET_DIR)/test.log"

fmt:
	$(CARGO) fmt --all

fmt-check:
	$(CARGO) fmt --all -- --check

lint:
	$(CARGO) clippy --workspace --all-targets -- -D warnings

## demo: verify the real SNP, TDX and CCA evidence in the shared vectors,
## measure the vectors' firmware launches (SNP, TDX, CCA) beside the reference
## tools' values, then run a KBS on loopback: store a secret, set policies,
## release it through RCAR.
demo: deps
	$(CARGO) build -p arca-cli -p arca-kbs
	@scripts/demo.sh "$(CARGO_TARGET_DIR)/debug/arca"
	@scripts/demo-measure.sh "$(CARGO_TARGET_DIR)/debug/arca"
	@scripts/demo-kbs.sh "$(CARGO_TARGET_DIR)/debug"
	@scripts/demo-image.sh "$(CARGO_TARGET_DIR)/debug/arca"

## bench: verification speed (ours beside dcap-qvl in the same run), policy
## evaluation, KBS load (full RCAR + resource GET at 1, 16, 64 clients), and
## `arca measure snp` beside sev-snp-measure (whole process, same inputs),
## `arca image pull` beside skopeo copy + umoci unpack (~500 MiB image), and
## `arca image verity format` beside `veritysetup format` (1 GiB image).
bench: deps
	$(CARGO) bench -p arca-verifier -p arca-kbs -p arca-measure
	$(CARGO) build --release -p arca-cli
	@scripts/bench-measure.sh "$(CARGO_TARGET_DIR)/release/arca"
	@scripts/bench-image.sh "$(CARGO_TARGET_DIR)/release/arca"
	@scripts/bench-verity.sh "$(CARGO_TARGET_DIR)/release/arca"

## fuzz: run each fuzz target briefly (needs cargo-fuzz and a nightly toolchain).
fuzz:
	@scripts/fuzz.sh $(FUZZ_SECONDS)

clean:
	$(CARGO) clean
