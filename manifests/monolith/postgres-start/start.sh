#!/bin/sh
# Starts the shop's PostgreSQL (localhost/gameday-postgres) with a password on every TCP
# connection. POSTGRES_PASSWORD comes from the database's Secret (key `password`).
#
# On first start it initialises the data directory itself, with scram-sha-256 for TCP and trust
# only on the pod's own Unix socket, and creates POSTGRES_DB. On every start it rewrites
# pg_hba.conf and sets the postgres role's password from the Secret (in single-user mode, before
# the server listens), so a data directory that outlives the pod — a PVC, or one initialised
# with trust — follows the Secret as it is now. Then it runs the image's entrypoint, which finds
# the data directory initialised and starts the server with the image's settings.
set -eu
: "${PGDATA:=/var/lib/postgresql/data}"
: "${POSTGRES_DB:=shop}"
if [ -z "${POSTGRES_PASSWORD:-}" ]; then
  echo "POSTGRES_PASSWORD is empty: the database's Secret has no password" >&2
  exit 1
fi
if [ ! -s "$PGDATA/PG_VERSION" ]; then
  initdb -D "$PGDATA" -U postgres --auth-local=trust --auth-host=scram-sha-256 -E UTF8 >/dev/null
  if [ "$POSTGRES_DB" != postgres ]; then
    echo "CREATE DATABASE \"$POSTGRES_DB\"" | postgres --single -D "$PGDATA" postgres >/dev/null
  fi
fi
printf 'local all all trust\nhost all all all scram-sha-256\n' >"$PGDATA/pg_hba.conf"
quoted=$(printf '%s' "$POSTGRES_PASSWORD" | sed "s/'/''/g")
printf "ALTER ROLE postgres PASSWORD '%s'\n" "$quoted" |
  postgres --single -D "$PGDATA" -c password_encryption=scram-sha-256 postgres >/dev/null
exec /usr/local/bin/gameday-postgres
