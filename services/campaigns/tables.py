"""The campaigns service's tables (its own database): so far only the runtime's outbox and inbox."""
from service_runtime.tables import runtime_metadata

metadata = runtime_metadata()
