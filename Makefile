# The project's checks, the same locally and in CI (.ci/run calls `make test`).
SHELL := /bin/bash
.PHONY: test fmt lint unit serve fuzz

test: fmt lint unit

fmt:
	cargo fmt --all -- --check

lint:
	cargo clippy --workspace --all-targets -- -D warnings

# Runs every test, then prints one total line over all test binaries.
# Tests that cannot run on this machine say so in target/test-skips.log (listed last).
unit:
	@mkdir -p target && rm -f target/test-skips.log
	set -o pipefail; cargo test --workspace 2>&1 | tee target/test.log
	@awk '/^test result:/ {p += $$4; f += $$6} END {printf "tests: %d passed, %d failed\n", p, f}' target/test.log
	@if [ -s target/test-skips.log ]; then echo "skipped (could not run here):"; cat target/test-skips.log; else echo "skipped: none"; fi

serve:
	cargo run --release -- serve

# Every fuzz target for FUZZ_SECONDS each (nightly needed): tools/fuzz.sh.
FUZZ_SECONDS ?= 60
fuzz:
	tools/fuzz.sh $(FUZZ_SECONDS)
