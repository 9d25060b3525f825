#!/usr/bin/env bash
# The project's test command (README, .ci/run): set up, then the whole suite.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
# No VM of the tests may get networking beyond 127.0.0.1 (only the isolated box built here may boot).
export HARNESS_ISOLATED_ONLY=1
exec .venv/bin/python -m pytest -q -p no:cacheprovider "$@"
