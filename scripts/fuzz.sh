#!/usr/bin/env bash
# Runs every fuzz target for SECONDS (default 60) each, one after the other, on its corpus
# fuzz/corpus/<target>/ (seed it first with scripts/fuzz_seeds.sh), and prints executions,
# time and crashes per target: a wrapper of `cargo xtask fuzz` (xtask/src/fuzz.rs), which
# explains what to install when nightly or cargo-fuzz is missing. Crashing inputs land in
# fuzz/artifacts/<target>/, logs in target/fuzz-logs/<target>.log. Exits non-zero on a crash.
#
#   scripts/fuzz.sh [SECONDS_PER_TARGET] [TARGET...]
set -euo pipefail
cd "$(dirname "$0")/.."

secs=${1:-60}
shift || true
if [ $# -gt 0 ]; then
    targets=$(IFS=,; echo "$*")
    exec cargo xtask fuzz --seconds "$secs" --targets "$targets"
fi
exec cargo xtask fuzz --seconds "$secs"
