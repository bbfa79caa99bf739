#!/usr/bin/env bash
# Issue 3 benchmark: lifeboat backup/restore against pg_dump -Fc, pg_dump | zstd | age, and
# pg_restore -j 2, on a ~2 GB database (pgbench scale 130 + wide text table), in one run.
#   bench/backup.sh                 # full size (about 15 minutes on 2 cores)
#   BENCH_SCALE=5 bench/backup.sh   # smoke test
# Prints wall time, MB/s (of the database size) and peak RSS for each.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
(cd "$ROOT" && cargo build --release --quiet)
start_server
setup_keys
build_database bench
SRC="$(row_counts bench)"

new_repo main
measure "lifeboat backup --jobs 2 (zstd-3 + age)" "$LIFEBOAT" backup --source "$URL/postgres" -d bench --jobs 2
echo "  stored: $(size_of "$WORK/repo-main")" | tee -a "$RESULTS"
measure "pg_dump -Fc (gzip-6)" "$PGBIN/pg_dump" -Fc -f "$WORK/bench.dump" -d "$URL/bench"
echo "  stored: $(size_of "$WORK/bench.dump")" | tee -a "$RESULTS"
measure "pg_dump | zstd -T0 | age" bash -c "'$PGBIN/pg_dump' -d '$URL/bench' | zstd -q -T0 | age -r '$RECIPIENT' > '$WORK/bench.sql.zst.age'"
echo "  stored: $(size_of "$WORK/bench.sql.zst.age")" | tee -a "$RESULTS"

measure "lifeboat restore --jobs 2" "$LIFEBOAT" restore latest -d bench --into "$URL/restored_lifeboat" --create --jobs 2
psql_q -d "$URL/postgres" -c "create database restored_pg"
measure "pg_restore -j 2 (from -Fc)" "$PGBIN/pg_restore" -j 2 -d "$URL/restored_pg" "$WORK/bench.dump"

GOT="$(row_counts restored_lifeboat)"
if [ "$SRC" = "$GOT" ]; then echo "row counts identical after lifeboat restore: $SRC" | tee -a "$RESULTS";
else echo "ROW COUNTS DIFFER: source $SRC, restored $GOT" | tee -a "$RESULTS"; exit 1; fi
echo; echo "== results"; cat "$RESULTS"
