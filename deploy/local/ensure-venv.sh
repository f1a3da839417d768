#!/usr/bin/env bash
# Create .venv with Python 3.11 and install the locked requirements (runtime and development):
# requirements-dev.lock pins every package, dependencies of dependencies included, to a version
# and the sha256 of its files, and the install refuses anything else (--require-hashes).
# uv installs them in seconds (pip takes about 40 s on a 2-core machine); pip is the fallback.
set -euo pipefail
VENV=${VENV:-.venv}
LOCK=${LOCK:-requirements-dev.lock}

python=""
for candidate in "${PYTHON:-}" python3.11 python3; do
  if [[ -n "$candidate" ]] && command -v "$candidate" >/dev/null \
     && "$candidate" -c 'import sys; sys.exit(sys.version_info[:2] != (3, 11))' 2>/dev/null; then
    python=$(command -v "$candidate"); break
  fi
done
if [[ -z "$python" ]]; then
  echo "venv: ERROR: Python 3.11 is needed: run 'sudo apt-get install python3.11 python3.11-venv' (or set PYTHON=...)" >&2
  exit 1
fi

if [[ ! -x "$VENV/bin/python" ]]; then
  if ! "$python" -c 'import ensurepip, venv' 2>/dev/null; then
    if [[ $(id -u) -eq 0 ]] && command -v apt-get >/dev/null; then
      echo "venv: installing python3-venv with apt-get"
      apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3-venv >/dev/null
    else
      echo "venv: ERROR: Python's venv support is missing: run 'sudo apt-get install python3-venv'" >&2
      exit 1
    fi
  fi
  "$python" -m venv "$VENV"
fi

# uv itself comes from its own lock, hash-checked like the rest
if "$VENV/bin/python" -m pip install -q --disable-pip-version-check --require-hashes \
     -r requirements-tools.lock >/dev/null 2>&1; then
  "$VENV/bin/uv" pip install -q --python "$VENV/bin/python" --require-hashes -r "$LOCK"
else
  echo "venv: uv unavailable, installing with pip"
  "$VENV/bin/python" -m pip install -q --disable-pip-version-check --require-hashes -r "$LOCK"
fi
