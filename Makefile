# The project's checks, the same locally and in CI (.ci/run calls `make test`).
.PHONY: test fmt lint unit serve

test: fmt lint unit

fmt:
	cargo fmt --all -- --check

lint:
	cargo clippy --workspace --all-targets -- -D warnings

unit:
	cargo test --workspace

serve:
	cargo run --release -- serve
