#!/usr/bin/env bash
# supervisord program `keycloak`: Keycloak in production mode (`start --optimized`) on
# http://127.0.0.1:$KEYCLOAK_PORT, management (health) on 127.0.0.1:$KEYCLOAK_MANAGEMENT_PORT.
#   keycloak.sh --build-only   (re)builds the optimized server image and exits; used by
#                              `infra/local/stack install`, skipped when already built.
#
# Keycloak keeps its own data in the local PostgreSQL database `keycloak` (not dev-file):
# it is the same engine as in the cluster (CloudNativePG), H2 dev-file is documented as
# unsuitable beyond a quick try, and `stack reset` wipes it together with everything else.
# So this script waits until `stack up` has provisioned that role and database.
. "$(dirname "$0")/common.sh"

KC_HOME="$DOWNLOADS/keycloak-$KEYCLOAK_VERSION"
[ -x "$KC_HOME/bin/kc.sh" ] || die "Keycloak is not installed in $KC_HOME: run infra/local/stack install"

JAVA_HOME="$(java_home_at_least 21 "$KEYCLOAK_JAVA_HOME")" \
  || die "Keycloak $KEYCLOAK_VERSION needs Java 21+; none found (run infra/local/stack install)"
export JAVA_HOME

# Build-time options, baked into the server image by `kc.sh build`. Changing this list
# changes the stamp, so the next start rebuilds.
BUILD_OPTS=(--db=postgres --health-enabled=true)
STAMP="$KC_HOME/.xinyu-build"
want_stamp="$KEYCLOAK_VERSION ${BUILD_OPTS[*]}"
if [ "$(cat "$STAMP" 2>/dev/null)" != "$want_stamp" ]; then
  log "kc.sh build ${BUILD_OPTS[*]}"
  rm -f "$STAMP"
  "$KC_HOME/bin/kc.sh" build "${BUILD_OPTS[@]}" >&2
  printf '%s\n' "$want_stamp" > "$STAMP"
fi
[ "${1:-}" = "--build-only" ] && exit 0

# Wait for the database (provisioned by `stack up`).
export PGPASSWORD=dev-db-keycloak
for _ in $(seq 1 180); do
  if psql -h "$PG_HOST" -p "$PG_PORT" -U keycloak -d keycloak -qAtc 'select 1' >/dev/null 2>&1; then
    ready=1; break
  fi
  sleep 1
done
[ "${ready:-}" = 1 ] || die "database keycloak@$PG_HOST:$PG_PORT not reachable (run infra/local/stack up)"
unset PGPASSWORD

# Secrets through the environment, not the command line (which `ps` shows).
export KC_DB_PASSWORD=dev-db-keycloak
export KC_BOOTSTRAP_ADMIN_USERNAME=admin
export KC_BOOTSTRAP_ADMIN_PASSWORD=dev-keycloak-admin
# Modest heap; C2 compiler threads limited: the machine has 2 cores.
export JAVA_OPTS_KC_HEAP="-Xms128m -Xmx768m"
# --add-opens: on Java 24+ jboss-threads needs it to reset thread locals between requests;
# without it worker threads die with NoClassDefFoundError mid-request, and a login cut off
# that way can leave its user "temporarily disabled" by the brute-force protector's per-user
# lock (seen as a 401 for a demo user with no failed login before it).
export JAVA_OPTS_APPEND="-XX:CICompilerCount=2 -XX:ParallelGCThreads=2 -XX:ConcGCThreads=1 --add-opens=java.base/java.lang=ALL-UNNAMED"

# `exec`: kc.sh forwards TERM/INT to the JVM, and supervisord stops the whole group.
# cache=local: single node, no JGroups discovery (which would cost seconds at start).
# hostname as a full URL: the issuer is always http://127.0.0.1:$KEYCLOAK_PORT/realms/xinyu,
# whatever address a client used.
exec "$KC_HOME/bin/kc.sh" start --optimized \
  --db-url="jdbc:postgresql://$PG_HOST:$PG_PORT/keycloak" \
  --db-username=keycloak \
  --db-pool-min-size=2 --db-pool-max-size=20 \
  --http-enabled=true \
  --http-host=127.0.0.1 \
  --http-port="$KEYCLOAK_PORT" \
  --http-management-port="$KEYCLOAK_MANAGEMENT_PORT" \
  --hostname="http://127.0.0.1:$KEYCLOAK_PORT" \
  --hostname-strict=true \
  --cache=local \
  --log-console-color=false
