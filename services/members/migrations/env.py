from service_runtime.migrate import run_env
from services.members.tables import metadata

run_env(metadata)
