#!/usr/bin/env bash
# The test command: installs what is needed, then runs the whole suite on real models.
# pytest's exit code 5 (no tests collected) is a failure here. -rs prints every skip's
# reason; a skip not listed in tests/expected_skips.txt fails the run (tests/conftest.py).
set -uo pipefail
cd "$(dirname "$0")/.."
bash scripts/install.sh || exit 1
# Lint and format (config in pyproject.toml): findings fail the run, after the tests ran.
lint=0
python3 -m ruff check --output-format concise sensekit tests scripts bench || lint=1
python3 -m ruff format --check sensekit tests scripts bench || lint=1
python3 -m pytest -q -rs -p no:cacheprovider "$@" tests
rc=$?
if [ "$rc" -eq 5 ]; then
    echo "no tests were collected: failing" >&2
    exit 1
fi
if [ "$rc" -eq 0 ] && [ "$lint" -ne 0 ]; then
    echo "ruff found problems (above): failing" >&2
    exit 1
fi
exit "$rc"
