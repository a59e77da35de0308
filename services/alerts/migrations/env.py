from alerts.adapters.db.tables import metadata
from xinyu_core.migrations import run_env

run_env(metadata)
