from service_runtime.migrate import run_env
from services.points.tables import metadata

run_env(metadata)
