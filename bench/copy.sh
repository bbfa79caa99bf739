#!/usr/bin/env bash
# Issue 14 benchmark: what the backup client spends per row, on the narrow-row shape most
# OLTP databases have (pgbench_accounts: 10 M rows of ~100 bytes at BENCH_SCALE=100), beside
# the floors it cannot beat:
#   floor:   the server's COPY of every row to /dev/null in two sessions (two block ranges of
#            pgbench_accounts, as lifeboat --jobs 2 splits it; the small tables after);
#   zstd -3: single-threaded, over the same COPY text read from a file — the compression
#            every backup pays, and the yardstick of the client's CPU;
#   lifeboat backup --jobs 2, pg_dump | zstd -T0 | age, pg_dump -Fd -j 2 --compress=zstd;
#   restore: lifeboat restore --jobs 2, beside its floor — the server loading the same COPY
#            text from local files in two sessions, plus the same index builds.
# "own CPU" is the command's own user + system CPU (children included), apart from the
# server's. Median of BENCH_REPEAT runs (3) with ranges; never run in CI.
#
# BENCH_CALLGRIND=1 adds an instruction count: `lifeboat backup --jobs 1` of a fixed
# 200,000-row pgbench_accounts under valgrind's callgrind, whose total does not vary with the
# machine's load — a regression shows as a number (the figure per row is printed).
#   bench/copy.sh                      # scale 100 (~1.5 GB), ~15 min
#   BENCH_SCALE=5 bench/copy.sh        # smoke test
#   BENCH_BASELINE=/path/to/old/lifeboat bench/copy.sh   # the older build's backup, same run
set -euo pipefail
SCALE="${BENCH_SCALE:-100}"; export BENCH_SCALE="$SCALE"
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

build_lifeboat
start_server
setup_keys

db=pgbench
if fresh_db "$db" "pgbench -i -s $SCALE"; then
  "$PGBIN/pgbench" -i -q -s "$SCALE" "$URL/$db" >"$WORK/pgbench-init.log" 2>&1 \
    || { tail -5 "$WORK/pgbench-init.log" >&2; exit 1; }
  built_db "$db"
fi
DB_BYTES="$(db_size "$db")"
ROWS="$(psql_q -d "$URL/$db" -c "select sum(n_live_tup) from pg_stat_user_tables")"
BLOCKS="$(psql_q -d "$URL/$db" -c "select relpages from pg_class where relname = 'pgbench_accounts'")"
HALF=$(( BLOCKS / 2 + 1 ))
section "database $db: $(mib "$DB_BYTES") MiB, $ROWS rows (pgbench scale $SCALE)"

# The two halves of pgbench_accounts by block range, then the small tables.
range_of() { if [ "$1" = 1 ]; then echo "ctid < '($HALF,0)'::tid"; else echo "ctid >= '($HALF,0)'::tid"; fi; }
copy_half() {  # copy_half N FILE — block range N (1 or 2) of pgbench_accounts into FILE, via psql
  "$PGBIN/psql" -X -q -d "$URL/$db" -c "\\copy (select * from pgbench_accounts where $(range_of "$1")) to '$2'"
}
server_copy_half() {  # server_copy_half N — the server writes block range N to /dev/null itself
  "$PGBIN/psql" -X -q -d "$URL/$db" -c "copy (select * from pgbench_accounts where $(range_of "$1")) to '/dev/null'"
}
export -f range_of copy_half server_copy_half; export PGBIN URL db HALF

section "backup"
measure "floor: the server's COPY to /dev/null, 2 sessions" bash -c '
  server_copy_half 1 & a=$!; server_copy_half 2 & b=$!
  wait $a && wait $b
  for t in pgbench_branches pgbench_tellers pgbench_history; do
    "$PGBIN/psql" -X -q -d "$URL/$db" -c "copy $t to '"'"'/dev/null'"'"'" || exit 1
  done'
measure "the same COPY received by psql (\\copy to /dev/null), 2 sessions" bash -c '
  copy_half 1 /dev/null & a=$!; copy_half 2 /dev/null & b=$!
  wait $a && wait $b'

# The COPY text itself, for zstd alone and for the restore floor.
copy_half 1 "$WORK/accounts.1.copy"; copy_half 2 "$WORK/accounts.2.copy"
TEXT_BYTES="$(cat "$WORK"/accounts.*.copy | wc -c)"
note "COPY text of pgbench_accounts: $(mib "$TEXT_BYTES") MiB"
measure "zstd -3 alone (one thread) over the same COPY text" bash -c \
  'zstd -q -3 -c "$1"/accounts.1.copy "$1"/accounts.2.copy >/dev/null' _ "$WORK"

PREP="new_repo main" measure "lifeboat backup --jobs 2 (zstd-3 + age)" \
  "$LIFEBOAT" backup --source "$URL/postgres" --database "$db" --jobs 2
artifact "$WORK/repo-main"
if [ -n "$BASELINE" ]; then
  PREP="baseline_repo" measure "baseline ${BENCH_BASELINE_NAME:-older build}: lifeboat backup --jobs 2" \
    "$BASELINE" backup --source "$URL/postgres" --database "$db" --jobs 2
fi
measure "pg_dump | zstd -T0 | age" bash -c 'set -o pipefail
  "$1/pg_dump" -d "$2" | zstd -q -T0 | age -r "$3" >"$4"' _ \
  "$PGBIN" "$URL/$db" "$RECIPIENT" "$WORK/$db.sql.zst.age"
artifact "$WORK/$db.sql.zst.age"
NEW="$(new_pgbin)"
if [ -n "$NEW" ]; then
  PREP="rm -rf '$WORK/$db.dir'" measure "pg_dump -Fd -j 2 --compress=zstd ($(basename "$(dirname "$NEW")"))" \
    "$NEW/pg_dump" -Fd -j 2 --compress=zstd -f "$WORK/$db.dir" -d "$URL/$db"
  artifact "$WORK/$db.dir"
fi

section "restore"
SRC_ROWS="$(row_counts "$db")"
PREP="drop_db restored" measure "lifeboat restore --jobs 2 --create" \
  "$LIFEBOAT" restore latest --database "$db" --into "$URL/restored" --create --jobs 2
check_rows "lifeboat restore" "$SRC_ROWS" restored
# The floor: the same rows loaded from local COPY text in two sessions, and the same index
# builds (pgbench's primary keys), into an empty copy of the schema.
"$PGBIN/pg_dump" --section=pre-data -d "$URL/$db" >"$WORK/pre.sql"
"$PGBIN/pg_dump" --section=post-data -d "$URL/$db" >"$WORK/post.sql"
for t in pgbench_branches pgbench_tellers pgbench_history; do
  "$PGBIN/psql" -X -q -d "$URL/$db" -c "\\copy $t to '$WORK/$t.copy'"
done
floor_prep() {
  drop_db floor
  psql_q -d "$URL/postgres" -c "create database floor"
  "$PGBIN/psql" -X -q -v ON_ERROR_STOP=1 -d "$URL/floor" -f "$WORK/pre.sql" >/dev/null
}
PREP="floor_prep" measure "floor: server loads the COPY text, 2 sessions, + indexes" bash -c '
  load() { "$PGBIN/psql" -X -q -v ON_ERROR_STOP=1 -d "$URL/floor" -c "\\copy $1 from '"'"'$2'"'"'"; }
  load pgbench_accounts "$1/accounts.1.copy" & a=$!
  load pgbench_accounts "$1/accounts.2.copy" & b=$!
  wait $a && wait $b
  for t in pgbench_branches pgbench_tellers pgbench_history; do load $t "$1/$t.copy" || exit 1; done
  "$PGBIN/psql" -X -q -v ON_ERROR_STOP=1 -d "$URL/floor" -f "$1/post.sql" >/dev/null' _ "$WORK"
if [ -n "$NEW" ]; then
  PREP="drop_db restored" measure "createdb + pg_restore -j 2 (of the -Fd dump)" bash -c '
    "$1/psql" -X -q -d "$2/postgres" -c "create database restored" &&
    "$1/pg_restore" -j 2 -d "$2/restored" "$3"' _ \
    "$NEW" "$URL" "$WORK/$db.dir"
fi

if [ -n "${BENCH_CALLGRIND:-}" ]; then
  section "instruction count (callgrind): lifeboat backup --jobs 1 of 200,000 narrow rows"
  command -v valgrind >/dev/null 2>&1 || apt_install valgrind
  drop_db cg
  psql_q -d "$URL/postgres" -c "create database cg"
  psql_q -d "$URL/cg" -c "create table pgbench_accounts (aid int primary key, bid int, abalance int, filler char(84))" \
    -c "insert into pgbench_accounts select g, 1 + g / 100000, 0, '' from generate_series(1, 200000) g" \
    -c "vacuum (analyze, freeze) pgbench_accounts"
  new_repo cg
  # The instruction count is the backup's own: the server's share is not in it.
  valgrind --tool=callgrind --callgrind-out-file="$WORK/callgrind.out" \
    "$LIFEBOAT" backup --source "$URL/postgres" --database cg --jobs 1 >/dev/null 2>"$WORK/callgrind.log"
  total="$(awk '/^summary:/ { print $2 }' "$WORK/callgrind.out")"
  note "callgrind: $total instructions in all, $(( total / 200000 )) per row (startup included)"
  callgrind_annotate "$WORK/callgrind.out" 2>/dev/null | sed -n '/file:function/,$p' | sed -n 2,16p \
    | cut -c1-150 | sed 's/^/    /'
fi

echo; print_table
