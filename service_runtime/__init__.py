"""Shared runtime for the platform's Nameko services.

What every service needs and nothing domain-specific: configuration, the database
dependency provider, the transactional outbox and its relay, the inbox, event
subscription with dead-lettering, tracing, metrics, JSON logging, migrations and
start-up (bootstrap, runner), and reading bulk import files (the gateway's imports and
the catalog's files adapter both read them).
"""

import warnings

# eventlet warns on import that it is deprecated; we know (docs/decisions/0001-nameko-version.md)
warnings.filterwarnings("ignore", message=r"\s*Eventlet is deprecated")
