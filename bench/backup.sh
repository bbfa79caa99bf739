#!/usr/bin/env bash
# Issue 3 benchmark: lifeboat against the usual ways of doing it, on a ~2 GB database (pgbench
# scale 130 + a ~300 MB wide text table), all in one run on a throwaway PostgreSQL 15:
#   backup:  lifeboat backup --jobs 2 (zstd-3 + age, local repository) | pg_dump -Fc |
#            pg_dump | zstd -T0 | age -r RECIPIENT > file
#   restore: lifeboat restore --jobs 2 --create | createdb + pg_restore -j 2 (of the -Fc dump)
# Prints median wall seconds of BENCH_REPEAT runs (3) with their range, MB/s (of
# pg_database_size), peak RSS, machine CPU and artifact size of each, a final
# table, and checks that the lifeboat restore has the source's row count in every table.
# Run by hand (never in CI), as root or a user that can run PostgreSQL:
#   bench/backup.sh                    # full size: ~2.2 GB database, ~10 GB of /tmp, ~15 min
#   BENCH_SCALE=5 bench/backup.sh      # smoke test (~90 MB database, well under a minute)
#   BENCH_BASELINE=/path/to/old/lifeboat bench/backup.sh   # also the older build, same run
#   (for a regression verdict use bench/compare.sh, which interleaves the two builds)
# More knobs (BENCH_KEEP, BENCH_KEEP_DB, ...): see bench/lib.sh.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

build_lifeboat
start_server
setup_keys
build_database bench
SRC_ROWS="$(row_counts bench)"
drop_db restored_lifeboat; drop_db restored_pg_restore

section "backup of database bench ($(mib "$DB_BYTES") MiB)"
PREP="new_repo main" measure "lifeboat backup --jobs 2 (zstd-3 + age)" \
  "$LIFEBOAT" backup --source "$URL/postgres" --database bench --jobs 2 --split-size "$SPLIT"
artifact "$WORK/repo-main"
if [ -n "$BASELINE" ]; then
  PREP="baseline_repo" measure "baseline ${BENCH_BASELINE_NAME:-older build}: lifeboat backup --jobs 2" \
    "$BASELINE" backup --source "$URL/postgres" --database bench --jobs 2 --split-size "$SPLIT"
  artifact "$WORK/repo-baseline"
fi
measure "pg_dump -Fc (gzip-6)" "$PGBIN/pg_dump" -Fc -f "$WORK/bench.dump" -d "$URL/bench"
artifact "$WORK/bench.dump"
measure "pg_dump | zstd -T0 | age" bash -c 'set -o pipefail
  "$1/pg_dump" -d "$2" | zstd -q -T0 | age -r "$3" >"$4"' _ \
  "$PGBIN" "$URL/bench" "$RECIPIENT" "$WORK/bench.sql.zst.age"
artifact "$WORK/bench.sql.zst.age"

section "restore into a new database (PostgreSQL 15, fsync on)"
export LIFEBOAT_REPO="$WORK/repo-main"
PREP="drop_db restored_lifeboat" measure "lifeboat restore --jobs 2 --create" \
  "$LIFEBOAT" restore latest --database bench --into "$URL/restored_lifeboat" --create --jobs 2
if [ -n "$BASELINE" ]; then
  PREP="drop_db restored_lifeboat" measure "baseline ${BENCH_BASELINE_NAME:-older build}: lifeboat restore --jobs 2 --create" \
    env LIFEBOAT_REPO="$WORK/repo-baseline" "$BASELINE" restore latest --database bench \
    --into "$URL/restored_lifeboat" --create --jobs 2
fi
PREP="drop_db restored_pg_restore" measure "createdb + pg_restore -j 2 (of the -Fc dump)" bash -c 'set -e
  "$1/psql" -X -q -v ON_ERROR_STOP=1 -d "$2/postgres" -c "create database restored_pg_restore"
  "$1/pg_restore" -j 2 --exit-on-error -d "$2/restored_pg_restore" "$3"' _ "$PGBIN" "$URL" "$WORK/bench.dump"

section "checks"
for pair in "lifeboat restore:restored_lifeboat" "pg_restore:restored_pg_restore"; do
  msg="$(check_rows "${pair%%:*}" "$SRC_ROWS" "${pair#*:}")" || { echo "$msg"; exit 1; }
  note "$msg"
done
drop_db restored_lifeboat; drop_db restored_pg_restore

echo
echo "== results (PostgreSQL 15, scale $SCALE, lifeboat split size $SPLIT, $(nproc) cores)"
print_table
