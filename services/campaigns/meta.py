"""The campaigns service's SQLAlchemy metadata, shared by its table modules."""
from service_runtime.tables import runtime_metadata

metadata = runtime_metadata()
