from service_runtime.migrate import run_env
from services.gateway.tables import metadata

run_env(metadata)
