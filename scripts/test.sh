#!/usr/bin/env bash
# The project's test command (README, .ci/run): set up, then the whole suite.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
# No VM of the tests may get networking beyond 127.0.0.1 (only the isolated box built here may boot).
export HARNESS_ISOLATED_ONLY=1
# Bytecode kept between the suite's hundreds of `harness` processes (__pycache__ is ignored by git),
# whatever the machine's environment says: compiling every module at every start costs minutes.
unset PYTHONDONTWRITEBYTECODE
# The rump target's libraries, as scripts/setup.sh unpacked them (tests/test_rump.py skips, saying so, without).
for lib in .venv/share/rump/*/lib; do
    if [ -f "$lib/librump.so" ]; then
        export HARNESS_RUMP_LIB="${HARNESS_RUMP_LIB:-$PWD/$lib}"
        break
    fi
done
exec .venv/bin/python -m pytest -q -p no:cacheprovider "$@"
