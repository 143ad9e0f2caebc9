#!/usr/bin/env bash
# The whole suite. pytest's exit code 5 ("no tests collected") is a failure here, like any other.
set -uo pipefail
cd "$(dirname "$0")/.."
.venv/bin/python -m pytest -q -p no:cacheprovider "$@"
rc=$?
if [ "$rc" -eq 5 ]; then
  echo "test.sh: pytest collected no tests - failing" >&2
  exit 1
fi
exit "$rc"
