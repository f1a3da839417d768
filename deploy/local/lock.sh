#!/usr/bin/env bash
# Regenerate the lock files (exact versions and sha256 of every file, dependencies of
# dependencies included) from requirements*.txt: run `make lock` after editing those.
#   requirements-dev.lock   what `make venv` installs (runtime and development)
#   requirements.lock       what the image installs (runtime only, the same versions)
#   requirements-tools.lock the installer itself (uv), installed first, hash-checked too
#   deploy/local/requirements-audit.lock  pip-audit, for `make audit`
set -euo pipefail
UV=${UV:-.venv/bin/uv}
compile=("$UV" pip compile --quiet --generate-hashes --universal --python-version 3.11 --annotation-style line
         --custom-compile-command "make lock")
"${compile[@]}" requirements-dev.txt -o requirements-dev.lock
"${compile[@]}" requirements.txt -c requirements-dev.lock -o requirements.lock
"${compile[@]}" deploy/local/requirements-tools.txt -o requirements-tools.lock
"${compile[@]}" deploy/local/requirements-audit.txt -o deploy/local/requirements-audit.lock
