#!/usr/bin/env bash
# Runs every coverage-guided fuzz target in fuzz/ for SECONDS each (default 60), one after
# the other, and exits non-zero if any of them found a crash (a panic, a failed invariant,
# a timeout or running out of memory). Optional further arguments name the targets to run.
#
#   scripts/fuzz.sh            # every target, 60 s each
#   scripts/fuzz.sh 600 parse  # only `parse`, for ten minutes
#
# cargo-fuzz drives libFuzzer. It normally wants nightly Rust, but only for the sanitizers:
# with `--sanitizer none` the coverage instrumentation it needs is stable, so stable rustc
# runs it with RUSTC_BOOTSTRAP=1 (set for the cargo-fuzz commands only). `-a` keeps debug
# assertions and overflow checks on. cargo-fuzz is installed when missing.
#
# The corpus grows in fuzz/corpus/<target>/ (not committed; seeds are in fuzz/seeds/);
# a crashing input is saved in fuzz/artifacts/<target>/ and its log in fuzz/logs/.
# See docs/operations.md, "Fuzzing".
set -euo pipefail
cd "$(dirname "$0")/../fuzz"

seconds=${1:-60}
shift || true

if ! cargo fuzz --version >/dev/null 2>&1; then
    echo "fuzz: installing cargo-fuzz" >&2
    cargo install cargo-fuzz --version 0.13.2 --locked
fi

fuzz() {
    RUSTC_BOOTSTRAP=1 cargo fuzz "$@"
}

if [ $# -gt 0 ]; then
    targets=("$@")
else
    mapfile -t targets < <(cargo fuzz list)
fi

# The main workspace's `cargo fmt --all --check` does not reach this separate project.
cargo fmt --check
# Build every target first, so the per-target time is spent fuzzing.
fuzz build --sanitizer none --debug-assertions

mkdir -p logs
failed=()
for target in "${targets[@]}"; do
    mkdir -p "corpus/$target" "seeds/$target"
    dict=()
    case "$target" in
        parse | evaluate) dict=(-dict=dict/asl.dict) ;;
    esac
    log="logs/$target.log"
    echo "fuzz: $target for ${seconds}s" >&2
    if fuzz run --sanitizer none --debug-assertions "$target" "corpus/$target" "seeds/$target" -- \
        -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
        "${dict[@]}" >"$log" 2>&1; then
        grep -E '^stat::number_of_executed_units|^#[0-9]+.*DONE' "$log" | sed "s/^/fuzz: $target: /" >&2 || true
    else
        echo "fuzz: $target FAILED; the end of $log:" >&2
        tail -n 60 "$log" >&2
        failed+=("$target")
    fi
done

if [ ${#failed[@]} -gt 0 ]; then
    echo "fuzz: crashes in ${failed[*]}; inputs in fuzz/artifacts/" >&2
    exit 1
fi
echo "fuzz: ${#targets[@]} targets, ${seconds}s each, no crash" >&2
