#!/usr/bin/env bash
# Issue 9 benchmark: what proving a backup costs. On the ~2 GB database of bench/backup.sh
# (pgbench scale 130 + a wide text table), one lifeboat backup, then on the same PostgreSQL 15
# server (fsync on), each BENCH_REPEAT times (median, range):
#   lifeboat restore --jobs 2 --create              the restore alone
#   lifeboat verify --jobs 2 --scratch-url …        restore + every table read back and digested,
#                                                   sequences, large objects, schema, record
#   pg_restore -j 2 + count(*) of every table       the by-hand check people script today
# verify reaches the server through its Unix socket (the TCP address is the backup's source,
# which verify refuses), so all three run on the same server with the same settings.
# Run by hand (never in CI):
#   bench/verify.sh                    # full size, ~15 min
#   BENCH_SCALE=5 bench/verify.sh      # smoke test
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

build_lifeboat
start_server
setup_keys
build_database bench
SRC_ROWS="$(row_counts bench)"
new_repo main
log "lifeboat backup (not measured)"
"$LIFEBOAT" backup --source "$URL/postgres" --database bench --jobs 2 --split-size "$SPLIT" >/dev/null
log "pg_dump -Fc (not measured)"
"$PGBIN/pg_dump" -Fc -f "$WORK/bench.dump" -d "$URL/bench"
SOCKET_URL="postgresql://postgres@%2F${PGDIR//\//%2F}:$PORT/postgres"
COUNT_SQL="select string_agg(format('select %L, count(*) from %I.%I', n.nspname || '.' || c.relname, n.nspname, c.relname), ' union all ')
             from pg_class c join pg_namespace n on n.oid = c.relnamespace
            where c.relkind = 'r' and n.nspname not in ('pg_catalog', 'information_schema')"

section "proving the backup of database bench ($(mib "$DB_BYTES") MiB) restores (PostgreSQL 15, fsync on)"
PREP="drop_db restored_lifeboat" measure "lifeboat restore --jobs 2 --create (restore alone)" \
  "$LIFEBOAT" restore latest --database bench --into "$URL/restored_lifeboat" --create --jobs 2
PREP="drop_db bench_verify_scratch" measure "lifeboat verify --jobs 2 (restore + read back + checks + record)" \
  "$LIFEBOAT" verify latest --jobs 2 --scratch-url "$SOCKET_URL"
PREP="drop_db restored_pg_restore" measure "createdb + pg_restore -j 2 + count(*) per table" bash -c 'set -e
  "$1/psql" -X -q -v ON_ERROR_STOP=1 -d "$2/postgres" -c "create database restored_pg_restore"
  "$1/pg_restore" -j 2 --exit-on-error -d "$2/restored_pg_restore" "$3"
  q="$("$1/psql" -X -At -d "$2/restored_pg_restore" -c "$4")"
  "$1/psql" -X -At -d "$2/restored_pg_restore" -c "$q" >/dev/null' _ "$PGBIN" "$URL" "$WORK/bench.dump" "$COUNT_SQL"

section "checks"
msg="$(check_rows "lifeboat restore" "$SRC_ROWS" restored_lifeboat)" || { echo "$msg"; exit 1; }
note "$msg"
"$LIFEBOAT" verify latest --jobs 2 --scratch-url "$SOCKET_URL" --json >"$WORK/verify.json"
python3 - "$WORK/verify.json" <<'PY' | while read -r line; do note "$line"; done
import json, sys
r = json.load(open(sys.argv[1]))
d = r["databases"][0]
print(f"verify passed={r['passed']}: {len(d['checks'])} checks, measured RTO {d['restore_seconds']:.1f}s of {d['total_seconds']:.1f}s")
print("stages: " + ", ".join(f"{s['name']} {s['seconds']:.1f}s" for s in d["stages"]))
PY
drop_db restored_lifeboat; drop_db restored_pg_restore
print_table
