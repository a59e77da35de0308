# Sourced by the start scripts in this folder (not executable on its own).
# Sets XINYU_ROOT (the clone, wherever it lives), XINYU_LOCAL, DATA, DOWNLOADS and the
# pinned versions and ports from infra/local/versions.env.
set -euo pipefail

XINYU_LOCAL="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd -P)"
XINYU_ROOT="${XINYU_ROOT:-$(cd "$XINYU_LOCAL/../.." && pwd -P)}"
DATA="$XINYU_LOCAL/.data"
DOWNLOADS="$XINYU_LOCAL/.downloads"
export XINYU_ROOT

# shellcheck disable=SC1091
set -a
. "$XINYU_LOCAL/versions.env"
set +a

log() { printf '[%s] %s\n' "$(basename "$0" .sh)" "$*" >&2; }
die() { log "FATAL: $*"; exit 1; }

# Prints a JAVA_HOME that runs Java >= $1, preferring $2; fails if there is none.
java_home_at_least() {
  local want="$1" preferred="${2:-}" candidate version
  for candidate in "$preferred" ${JAVA_HOME:-} /usr/lib/jvm/*; do
    [ -n "$candidate" ] && [ -x "$candidate/bin/java" ] || continue
    version="$("$candidate/bin/java" -XshowSettings:properties -version 2>&1 \
      | sed -n 's/^ *java.specification.version = \([0-9]*\).*/\1/p')"
    if [ -n "$version" ] && [ "$version" -ge "$want" ]; then
      printf '%s\n' "$candidate"
      return 0
    fi
  done
  return 1
}
