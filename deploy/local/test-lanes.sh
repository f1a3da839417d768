#!/usr/bin/env bash
# `make test`'s two lanes in parallel, each line prefixed with its lane; fails if either fails.
set -uo pipefail
make_cmd=${1:-make}
base=${LOYALTY_TEST_TAG:-}

lane() {  # lane <name> <tag suffix> <target>
  LOYALTY_TEST_TAG="${base}$2" $make_cmd --no-print-directory "$3" 2>&1 | sed -u "s/^/[$1] /"
}

lane plain a test-plain & plain=$!
lane green b test-green & green=$!
status=0
wait "$plain" || { status=1; echo "[plain] lane failed"; }
wait "$green" || { status=1; echo "[green] lane failed"; }
exit "$status"
