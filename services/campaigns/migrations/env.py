from service_runtime.migrate import run_env
from services.campaigns.tables import metadata

run_env(metadata)
