# The audit log's table lives on the same metadata; importing it registers it.
import identity.audit.tables  # noqa: F401
from identity.adapters.db.tables import metadata
from xinyu_core.migrations import run_env

run_env(metadata)
