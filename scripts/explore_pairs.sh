#!/usr/bin/env bash
# The explorations of issue 23, each 2000 sequences of seed 1 (minutes each; run as root after
# scripts/setup.sh): a kernel against itself, Linux against Linux 3.8 (emulated), Linux against NetBSD
# (rump, when its libraries are at hand). Each writes its findings into OUT/<pair>/ and prints its
# summary; docs/explore.md shows what they found on this project's machine.
#   bash scripts/explore_pairs.sh [OUT]        (default: explore-pairs/)
set -uo pipefail
cd "$(dirname "$0")/.." || exit 2
out="${1:-explore-pairs}"
for lib in .venv/share/rump/*/lib; do
    if [ -f "$lib/librump.so" ]; then
        export HARNESS_RUMP_LIB="${HARNESS_RUMP_LIB:-$PWD/$lib}"
        break
    fi
done
pairs=("local,local" "local,local-legacy")
if [ -n "${HARNESS_RUMP_LIB:-}" ]; then
    pairs+=("local,rump")
else
    echo "explore_pairs: no rump libraries (scripts/setup.sh unpacks them): local,rump left out" >&2
fi
status=0
for pair in "${pairs[@]}"; do
    echo "== harness explore --targets $pair --seed 1 --budget 2000"
    start=$(date +%s)
    .venv/bin/harness explore --targets "$pair" --seed 1 --budget 2000 --out "$out/${pair//,/-}"
    code=$?
    echo "== $pair: exit status $code, $(( $(date +%s) - start )) s"
    # local,local must find nothing (0); the others find something (1); anything else is a failure
    if { [ "$pair" = "local,local" ] && [ "$code" -ne 0 ]; } || { [ "$pair" != "local,local" ] && [ "$code" -ne 1 ]; }; then
        status=1
    fi
done
exit "$status"
