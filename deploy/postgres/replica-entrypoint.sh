#!/bin/bash
# The compose replica: on an empty volume, clone the primary with pg_basebackup (-R writes
# standby.signal and primary_conninfo), then run as a hot standby streaming from it.
# Runs as the postgres user (compose `user: postgres`).
set -euo pipefail
: "${PGDATA:=/var/lib/postgresql/data}"
export PGPASSWORD="$REPLICATION_PASSWORD"
PRIMARY_HOST="${PRIMARY_HOST:-db-primary}"
SLOT="${REPLICATION_SLOT:-replica1}"

if [ ! -s "$PGDATA/PG_VERSION" ]; then
  until pg_isready -q -h "$PRIMARY_HOST" -U replicator -d postgres; do
    echo "replica: waiting for $PRIMARY_HOST"; sleep 1
  done
  # A physical slot keeps the WAL this replica still needs (the primary caps it with
  # max_slot_wal_keep_size, so a long-dead replica cannot fill the primary's disk).
  psql -h "$PRIMARY_HOST" -U replicator -d postgres -v ON_ERROR_STOP=1 -qAt -c \
    "SELECT pg_create_physical_replication_slot('$SLOT') WHERE NOT EXISTS (SELECT 1 FROM pg_replication_slots WHERE slot_name = '$SLOT')" >/dev/null
  rm -rf "${PGDATA:?}"/*
  pg_basebackup -h "$PRIMARY_HOST" -U replicator -D "$PGDATA" -R -X stream -S "$SLOT" --checkpoint=fast --progress
  chmod 0700 "$PGDATA"
fi
exec postgres -c hot_standby=on -c hot_standby_feedback=on -c max_standby_streaming_delay=5s "$@"
