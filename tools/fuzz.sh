#!/usr/bin/env bash
# Runs the fuzz targets of fuzz/ with libFuzzer, each for a fixed time, and reports which
# found something. Usage: tools/fuzz.sh [seconds per target, default 60] [target...]
#
# Needs a nightly toolchain (`rustup toolchain install nightly`) and a C++ compiler
# (libfuzzer-sys builds libFuzzer); cargo-fuzz is used when installed, otherwise the
# instrumentation flags it would pass are given to `cargo +nightly build` directly.
# Seeds: fuzz/seeds/<target>/ (committed). New inputs go to fuzz/corpus/<target>/, crashes to
# fuzz/artifacts/<target>/ (both ignored by git): replay one with
# `target/<host>/release/<target> fuzz/artifacts/<target>/crash-...`, then add it to the seeds
# with the fix (the unit tests replay every seed).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
secs=${1:-60}
[ $# -gt 0 ] && shift
if [ $# -gt 0 ]; then
    targets=("$@")
else
    mapfile -t targets < <(sed -n 's/^name = "\(.*\)"$/\1/p' "$root/fuzz/Cargo.toml" | grep -v '^fedstore-fuzz$')
fi
host=$(rustc -vV | sed -n 's/^host: //p')
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$root/target}
flags="-Cpasses=sancov-module -Cllvm-args=-sanitizer-coverage-level=4"
flags+=" -Cllvm-args=-sanitizer-coverage-inline-8bit-counters"
flags+=" -Cllvm-args=-sanitizer-coverage-pc-table -Cllvm-args=-sanitizer-coverage-trace-compares"
flags+=" --cfg fuzzing -Cdebug-assertions -Coverflow-checks"
echo "building ${#targets[@]} fuzz targets (nightly, release, instrumented) ..."
RUSTFLAGS="$flags" cargo +nightly build --manifest-path "$root/fuzz/Cargo.toml" \
    --release --target "$host" --bins
failed=()
for t in "${targets[@]}"; do
    mkdir -p "$root/fuzz/corpus/$t" "$root/fuzz/artifacts/$t"
    echo "== $t: ${secs}s"
    if ! "$CARGO_TARGET_DIR/$host/release/$t" -max_total_time="$secs" -timeout=10 \
        -rss_limit_mb=2048 -print_final_stats=1 \
        -artifact_prefix="$root/fuzz/artifacts/$t/" \
        "$root/fuzz/corpus/$t" "$root/fuzz/seeds/$t" 2>&1 | tail -n 25; then
        failed+=("$t")
    fi
done
if [ ${#failed[@]} -gt 0 ]; then
    echo "FOUND PROBLEMS: ${failed[*]} (see fuzz/artifacts/)"
    exit 1
fi
echo "no crash in ${#targets[@]} targets x ${secs}s"
