#!/usr/bin/env bash
# Issue 4 benchmark: parallel dump and restore.
#  - the ~2 GB database: lifeboat backup --jobs 1/2/4 vs pg_dump -Fd -j 2 --compress=zstd and
#    pg_dump -Fc; lifeboat restore --jobs 2 vs pg_restore -j 2;
#  - one ~1.5 GB table alone: lifeboat --jobs 1 vs --jobs 2 (block ranges) vs pg_dump -Fd -j 2.
#   bench/parallel.sh               # full size
#   BENCH_SCALE=5 bench/parallel.sh # smoke test
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
(cd "$ROOT" && cargo build --release --quiet)
# pg_dump --compress=zstd needs pg_dump 16 or newer; a newer pg_dump dumps an older server.
PGBIN_NEW="$(bash "$ROOT/tests/pg-install.sh" 17)"
start_server
setup_keys
build_database bench
SRC="$(row_counts bench)"

for j in 1 2 4; do
  new_repo "j$j"
  measure "lifeboat backup --jobs $j" "$LIFEBOAT" backup --source "$URL/postgres" -d bench --jobs "$j"
done
echo "  stored: $(size_of "$WORK/repo-j2")" | tee -a "$RESULTS"
measure "pg_dump -Fd -j 2 --compress=zstd (pg_dump 17)" "$PGBIN_NEW/pg_dump" -Fd -j 2 --compress=zstd -f "$WORK/bench.dir" -d "$URL/bench"
echo "  stored: $(size_of "$WORK/bench.dir")" | tee -a "$RESULTS"
measure "pg_dump -Fc" "$PGBIN/pg_dump" -Fc -f "$WORK/bench.dump" -d "$URL/bench"

export LIFEBOAT_REPO="$WORK/repo-j2"
measure "lifeboat restore --jobs 2" "$LIFEBOAT" restore latest -d bench --into "$URL/r_lifeboat" --create --jobs 2
psql_q -d "$URL/postgres" -c "create database r_pg"
# pg_restore 17 into a 15 server trips on `SET transaction_timeout`; restore the -Fc
# archive with the server's own pg_restore instead.
measure "pg_restore -j 2 (from -Fc)" "$PGBIN/pg_restore" -j 2 -d "$URL/r_pg" "$WORK/bench.dump"
GOT="$(row_counts r_lifeboat)"
[ "$SRC" = "$GOT" ] && echo "row counts identical after lifeboat restore" | tee -a "$RESULTS" \
  || { echo "ROW COUNTS DIFFER: $SRC vs $GOT" | tee -a "$RESULTS"; exit 1; }
psql_q -d "$URL/postgres" -c "drop database bench" -c "drop database r_lifeboat" -c "drop database r_pg"
rm -rf "$WORK"/repo-* "$WORK/bench.dir" "$WORK/bench.dump"

# One big table alone: per-table parallelism cannot help pg_dump here; block ranges can.
ROWS=$(( ${BENCH_SCALE:-130} * 100000 ))
psql_q -d "$URL/postgres" -c "create database one"
psql_q -d "$URL/one" -c "create table big as select g as id, md5(g::text) as a, md5((g*2)::text) as b,
   timestamptz '2026-01-01' + g * interval '1 second' as ts from generate_series(1, $ROWS) g;" -c "vacuum analyze big"
DB_BYTES="$(db_size one)"
echo "database one: a single table of $(( DB_BYTES / 1048576 )) MiB" | tee -a "$RESULTS"
for j in 1 2; do
  new_repo "one$j"
  measure "single table: lifeboat backup --jobs $j" "$LIFEBOAT" backup --source "$URL/postgres" -d one --jobs "$j"
done
measure "single table: pg_dump -Fd -j 2 --compress=zstd" "$PGBIN_NEW/pg_dump" -Fd -j 2 --compress=zstd -f "$WORK/one.dir" -d "$URL/one"
echo; echo "== results"; cat "$RESULTS"
