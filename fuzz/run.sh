#!/usr/bin/env bash
# Runs every fuzz target for a bounded time and fails if any finds a crash.
#
#   fuzz/run.sh [SECONDS_PER_TARGET] [TARGET...]     (default: 60 s, every target)
#
# Needs cargo-fuzz (`cargo install cargo-fuzz --locked`); runs on stable through
# RUSTC_BOOTSTRAP=1. The corpus grows in fuzz/corpus/<target> (not committed), seeded
# from fuzz/seeds/<target>; a crash leaves its input in fuzz/artifacts/<target>/.
set -euo pipefail
cd "$(dirname "$0")"
seconds="${1:-60}"
shift || true
targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then
    targets=(policy_decide tokens body_guards)
fi
export RUSTC_BOOTSTRAP=1
command -v cargo-fuzz >/dev/null || { echo "cargo-fuzz is missing: cargo install cargo-fuzz --locked" >&2; exit 2; }
cargo fuzz build
failed=()
for target in "${targets[@]}"; do
    mkdir -p "corpus/$target"
    extra=()
    if [ -f "seeds/$target.dict" ]; then
        extra+=("-dict=seeds/$target.dict")
    fi
    echo "== $target: ${seconds}s"
    log="$(mktemp)"
    set +e
    cargo fuzz run "$target" "corpus/$target" "seeds/$target" -- \
        -max_total_time="$seconds" -print_final_stats=1 "${extra[@]}" >"$log" 2>&1
    status=$?
    set -e
    grep -E '^(#[0-9]+ +DONE|==[0-9]+==|thread .* panicked|SUMMARY|Test unit written|stat::number_of_executed_units|stat::new_units_added)' "$log" || true
    if [ "$status" -ne 0 ] || grep -qE 'Test unit written|panicked|ERROR: libFuzzer' "$log"; then
        echo "!! $target: crash or failure (exit $status; inputs in fuzz/artifacts/$target/, log $log)" >&2
        failed+=("$target")
    else
        rm -f "$log"
    fi
done
if [ ${#failed[@]} -ne 0 ]; then
    echo "crashes in: ${failed[*]}" >&2
    exit 1
fi
echo "no crash in: ${targets[*]} (${seconds}s each)"
