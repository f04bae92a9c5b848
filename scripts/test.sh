#!/usr/bin/env bash
# The whole test suite, as CI runs it: installs what the tests need (Debian packages such
# as chromium and alertmanager) when missing, then formatting, lints and every test.
set -euo pipefail
cd "$(dirname "$0")/.."

if [ -x scripts/setup-test-deps.sh ]; then
    scripts/setup-test-deps.sh
fi

cargo fmt --all --check
cargo clippy --locked --workspace --all-targets -- -D warnings
scripts/check-cycles.py # no import cycles between the files of a crate
scripts/fuzz.sh 10 # every fuzz target for 10 s (docs/operations.md, "Fuzzing")
cargo test --locked --workspace --no-fail-fast
