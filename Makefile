# The loyalty platform. Quick start: `make run` (start everything), `make test` (run the suite).
SHELL := /bin/bash
PYTHON ?= python3.11
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: run stop status test test-plain test-green test-faults test-browser bench-console lint schemas bench bench-slice bench-members bench-points bench-campaigns bench-notify bench-feed bench-analytics bench-erp bench-fraud infra venv clean help prometheus prometheus-stop ops-tools test-ops bench-restore bench-scrape lock audit deadletters deadletters-replay

help:
	@echo "make run     set up everything and start the platform in the background (PROMETHEUS=1: Prometheus too)"
	@echo "make stop    stop it"
	@echo "make status  show what is running"
	@echo "make test    set up everything and run the whole test suite (lint included)"
	@echo "make test-faults  the fault-injection suite alone (private broker and database; ~3 min)"
	@echo "make test-browser the console and member page in Debian's Chromium (Playwright; installs chromium)"
	@echo "make lint    ruff and mypy"
	@echo "make schemas regenerate contracts/schemas and contracts/openapi.json from the code"
	@echo "make bench   benchmarks (BENCH lines; SCALE=small|medium|large)"
	@echo "make lock    regenerate the hashed lock files after editing requirements*.txt"
	@echo "make audit   check the locked packages for known vulnerabilities (pip-audit)"
	@echo "make deadletters [CMD='show 2']  list (show, replay) the dead-lettered events"

# Installs requirements-dev.lock (every package pinned with its sha256) with --require-hashes.
$(STAMP): requirements-dev.lock requirements-tools.lock deploy/local/ensure-venv.sh
	@PYTHON=$(PYTHON) VENV=$(VENV) bash deploy/local/ensure-venv.sh
	@touch $(STAMP)

venv: $(STAMP)

# After editing requirements.txt or requirements-dev.txt: regenerate the locks (needs PyPI).
lock: venv
	@bash deploy/local/lock.sh

# Known vulnerabilities in the locked packages; fails when the database cannot be asked.
audit:
	@PYTHON=$(PYTHON) bash deploy/local/audit.sh

infra:
	@bash deploy/local/ensure-infra.sh

# PROMETHEUS=1: Prometheus (and the PostgreSQL exporters) beside it, as `make prometheus` starts them.
WITH_PROMETHEUS := $(filter 1 yes true on,$(PROMETHEUS))

run: venv infra $(if $(WITH_PROMETHEUS),ops-tools)
	@DEMO_DATA=$${DEMO_DATA:-1} $(PY) deploy/local/platform.py start
ifneq ($(WITH_PROMETHEUS),)
	@$(PY) deploy/prometheus/local.py stop
	@$(PY) deploy/prometheus/local.py start
endif

stop:
	@if [ -x $(PY) ]; then $(PY) deploy/local/platform.py stop; $(PY) deploy/prometheus/local.py stop; \
	else echo "platform is not running"; fi

status: venv
	@$(PY) deploy/local/platform.py status

lint: venv
	$(VENV)/bin/ruff check .
	$(VENV)/bin/mypy
	$(PY) -m contracts.generate --check
	$(PY) -m services.gateway.openapi --check

schemas: venv
	$(PY) -m contracts.generate
	$(PY) -m services.gateway.openapi

# Two lanes at once, each on its own databases and vhosts (LOYALTY_TEST_TAG + a/b), since most of
# the suite waits on the broker and the database rather than a core: a plain pytest (unit, gateway,
# end to end) and a green one (eventlet monkey-patched first: Nameko containers in-process), then
# ops and browser. The fault suite runs alone last: it times recoveries and wants the cores.
test: venv infra lint
	@bash deploy/local/test-lanes.sh "$(MAKE)"
	$(MAKE) --no-print-directory test-faults

test-plain: venv infra
	$(PY) -m pytest tests/unit tests/gateway tests/e2e $(PYTEST_ARGS)

test-green: venv infra
	$(PY) -m pytest -p tests.green tests/service tests/integration $(PYTEST_ARGS)
	$(MAKE) --no-print-directory test-ops
	$(MAKE) --no-print-directory test-browser

# The staff console and member page driven in Debian's Chromium by Playwright (never a downloaded
# browser); screenshots in var/artifacts/screenshots.
test-browser: venv infra
	@bash deploy/local/ensure-browser.sh
	$(PY) -m pytest tests/browser $(PYTEST_ARGS)

# Broker bounce and kill, database restart, a killed and a stalled service under till load, on a
# RabbitMQ node and a PostgreSQL cluster the suite starts itself (never the shared ones).
test-faults: venv
	$(PY) -m pytest tests/faults $(PYTEST_ARGS)

# Benchmarks print `BENCH <name> <value> <unit>` lines; SCALE=small|medium|large.
bench: bench-slice bench-members bench-points bench-campaigns bench-notify bench-feed bench-analytics bench-erp bench-console bench-restore bench-scrape

bench-slice: venv infra
	$(PY) -m bench.slice

bench-members: venv infra
	$(PY) -m bench.members

bench-points: venv infra
	$(PY) -m bench.points

bench-campaigns: venv infra
	$(PY) -m bench.coupons
	$(PY) -m bench.rfm

bench-notify: venv infra
	$(PY) -m bench.notify

bench-feed: venv infra
	$(PY) -m bench.feed

# a simulated day of sales with planted fraud through the fraud rules (PostgreSQL only, in-process)
bench-fraud: venv infra
	$(PY) -m bench.fraud
# a year of 1,000 stores' aggregates (SQL-generated), the main queries' p95, then the event fold rate
# and the fraud scan of a simulated day (fraud_scan_100k_sales_s), the issue's third figure
bench-analytics: venv infra
	$(PY) -m bench.analytics
	$(PY) -m bench.fraud
# historical sales through the files adapter (a private sshd), then the ERP sync lag and reconciliation
bench-erp: venv infra
	@bash deploy/local/ensure-sftp.sh
	$(PY) -m bench.erp
	$(PY) -m bench.erp_sync
# first paint and time to interactive of the console's pages in Chromium, after importing SCALE's members
bench-console: venv infra
	@bash deploy/local/ensure-browser.sh
	$(PY) -m bench.console

# Operations (deploy/prometheus, deploy/grafana, deploy/k8s, backups): promtool, kustomize, restore drill.
ops-tools:
	@bash deploy/local/ensure-prometheus.sh

test-ops: venv infra ops-tools
	$(PY) -m pytest tests/ops $(PYTEST_ARGS)

# Prometheus and postgres_exporter beside a running platform (`make run` first): http://127.0.0.1:9090
prometheus: venv ops-tools
	@$(PY) deploy/prometheus/local.py start

prometheus-stop:
	@$(PY) deploy/prometheus/local.py stop

bench-restore: venv infra
	$(PY) -m bench.restore

# CPU of one /metrics scrape per process, as a share of a core at a 15 s interval
bench-scrape: venv infra
	$(PY) -m bench.scrape

# Dead-lettered events (docs/runbooks/dead-letters.md): CMD="show 3", "show --event-id ID", "replay --all".
deadletters: venv
	@$(PY) -m service_runtime.deadletters $(or $(CMD),list)

# Replay to the original exchange and routing key: TYPE=points.accrued, or ALL=1.
deadletters-replay: venv
	@$(PY) -m service_runtime.deadletters replay $(if $(ALL),--all,--type $(TYPE))

clean: stop
	rm -rf var .pytest_cache .mypy_cache .ruff_cache
