from service_runtime.migrate import run_env
from services.notify.tables import metadata

run_env(metadata)
