from service_runtime.migrate import run_env
from services.care.tables import metadata

run_env(metadata)
