#!/usr/bin/env bash
# supervisord program `postgres`: Debian's PostgreSQL server in the foreground on
# 127.0.0.1:$PG_PORT, data in infra/local/.data/postgres (initdb on first start).
# Roles and databases are provisioned by `infra/local/stack up`, not here.
. "$(dirname "$0")/common.sh"

PGBIN=""
for dir in $(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V -r); do
  if [ -x "$dir/postgres" ]; then PGBIN="$dir"; break; fi
done
[ -n "$PGBIN" ] || die "no PostgreSQL server in /usr/lib/postgresql: run infra/local/stack install"

PGDATA="$DATA/postgres"
mkdir -p "$DATA"

# PostgreSQL refuses to run as root. As root we run it in a user namespace where root's
# files appear as owned by the (unprivileged) `postgres` uid: this works whatever the
# permissions of the folders above the clone (a clone under /root is not reachable for
# the real `postgres` user). Without user namespaces we fall back to the real user.
RUNAS=()
if [ "$(id -u)" = 0 ]; then
  pg_uid="$(id -u postgres 2>/dev/null || echo 65534)"
  pg_gid="$(id -g postgres 2>/dev/null || echo 65534)"
  if unshare --user --map-user="$pg_uid" --map-group="$pg_gid" true 2>/dev/null; then
    RUNAS=(unshare --user --map-user="$pg_uid" --map-group="$pg_gid" --)
  else
    mkdir -p "$PGDATA" && chown postgres:postgres "$PGDATA"
    RUNAS=(setpriv --reuid=postgres --regid=postgres --init-groups --)
  fi
fi

if [ ! -s "$PGDATA/PG_VERSION" ]; then
  log "initdb $PGDATA"
  mkdir -p "$PGDATA" && chmod 700 "$PGDATA"
  [ "${RUNAS[0]:-}" = setpriv ] && chown postgres:postgres "$PGDATA"
  pwfile="$PGDATA/../.pg-superuser-password"
  printf 'dev-postgres\n' > "$pwfile"
  [ "${RUNAS[0]:-}" = setpriv ] && chown postgres "$pwfile"
  "${RUNAS[@]}" "$PGBIN/initdb" -D "$PGDATA" -U postgres --pwfile="$pwfile" \
    --auth-host=scram-sha-256 --auth-local=scram-sha-256 -E UTF8 --locale=C.UTF-8 >&2
  rm -f "$pwfile"
fi

# Settings are given here rather than in postgresql.conf so they are all in one place.
# synchronous_commit=off: a crash may lose the last few commits, never corrupt data;
# a big win for test suites that commit a lot on a 2-core machine.
exec "${RUNAS[@]}" "$PGBIN/postgres" -D "$PGDATA" \
  -c listen_addresses="$PG_HOST" \
  -c port="$PG_PORT" \
  -c unix_socket_directories='' \
  -c hba_file="$XINYU_LOCAL/postgres/pg_hba.conf" \
  -c password_encryption=scram-sha-256 \
  -c max_connections=200 \
  -c shared_buffers=128MB \
  -c synchronous_commit=off \
  -c logging_collector=off \
  -c log_destination=stderr \
  -c log_line_prefix='%m [%p] %q%u@%d ' \
  -c log_min_duration_statement=1000 \
  -c log_connections=off
