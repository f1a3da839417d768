from service_runtime.migrate import run_env
from services.catalog.tables import metadata

run_env(metadata)
