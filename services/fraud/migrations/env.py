from service_runtime.migrate import run_env
from services.fraud.tables import metadata

run_env(metadata)
