from service_runtime.migrate import run_env
from services.analytics.tables import metadata

run_env(metadata)
