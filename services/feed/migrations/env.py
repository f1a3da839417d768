from service_runtime.migrate import run_env
from services.feed.tables import metadata

run_env(metadata)
