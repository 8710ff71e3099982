#!/bin/sh
# Initialises the data directory on first start (trust auth inside the pod network, one
# database named by POSTGRES_DB), then runs the server in the foreground.
set -eu
: "${PGDATA:=/var/lib/postgresql/data}"
: "${POSTGRES_DB:=shop}"
if [ ! -s "$PGDATA/PG_VERSION" ]; then
  initdb -D "$PGDATA" -U postgres --auth=trust -E UTF8 >/dev/null
  printf "host all all 0.0.0.0/0 trust\n" >>"$PGDATA/pg_hba.conf"
  pg_ctl -D "$PGDATA" -o "-c listen_addresses=''" -w start >/dev/null
  if [ "$POSTGRES_DB" != postgres ]; then createdb -U postgres "$POSTGRES_DB"; fi
  pg_ctl -D "$PGDATA" -m fast -w stop >/dev/null
fi
exec postgres -D "$PGDATA" -c listen_addresses='*' -c max_connections="${POSTGRES_MAX_CONNECTIONS:-200}" \
  -c shared_buffers="${POSTGRES_SHARED_BUFFERS:-64MB}"
