# The audit log's and the roster import's tables live on the same metadata; importing their
# modules registers them.
import identity.audit.tables
import identity.roster.tables  # noqa: F401
from identity.adapters.db.tables import metadata
from xinyu_core.migrations import run_env

run_env(metadata)
