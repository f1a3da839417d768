#!/usr/bin/env bash
# `make audit`: check every locked package against the known-vulnerability database of PyPI
# (advisories from the Python Packaging Advisory Database and OSV, served with each release's
# metadata). pip-audit runs from a virtualenv of its own, installed from its hashed lock.
# --strict: a package the database could not be asked about fails the audit, so an unreachable
# database (a registry mirror without per-release metadata, no route to OSV) is never a pass.
# AUDIT_SERVICE=osv asks OSV instead.
set -euo pipefail
python=${PYTHON:-python3.11}
tools=${AUDIT_VENV:-var/tools/audit}
if [[ ! -x "$tools/bin/pip-audit" || deploy/local/requirements-audit.lock -nt "$tools/bin/pip-audit" ]]; then
  "$python" -m venv "$tools"
  "$tools/bin/python" -m pip install -q --disable-pip-version-check --require-hashes \
    -r deploy/local/requirements-audit.lock
  touch "$tools/bin/pip-audit"
fi
# requirements.lock (the image) is a subset of requirements-dev.lock, at the same versions
echo "audit: requirements-dev.lock and requirements-tools.lock"
if ! "$tools/bin/pip-audit" --disable-pip --require-hashes --strict --progress-spinner off \
     --vulnerability-service "${AUDIT_SERVICE:-pypi}" -r requirements-dev.lock -r requirements-tools.lock "$@"; then
  echo "audit: FAILED: a known vulnerability above, or the vulnerability database could not be asked" >&2
  exit 1
fi
