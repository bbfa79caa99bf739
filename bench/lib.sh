#!/usr/bin/env bash
# Shared helpers for the benchmarks: a throwaway PostgreSQL 15 tuned for bulk work (fsync
# stays on: restore figures must be honest), a measuring wrapper, and cleanup.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
PGBIN="${PGBIN:-$(bash "$ROOT/tests/pg-install.sh" 15)}"
WORK="${BENCH_DIR:-$(mktemp -d /tmp/lifeboat-bench.XXXXXX)}"
LIFEBOAT="$ROOT/target/release/lifeboat"
RESULTS="$WORK/results.txt"
DB_BYTES=1

need() { command -v "$1" >/dev/null 2>&1 || { apt-get update -qq && apt-get install -y -qq "$2" >/dev/null; }; }
need age age
[ -x /usr/bin/time ] || { apt-get update -qq && apt-get install -y -qq time >/dev/null; }
need zstd zstd

as_pg() { if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi; }

start_server() {
  PORT="$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')"
  mkdir -p "$WORK/pg"; chmod 755 "$WORK"
  [ "$(id -u)" = 0 ] && chown postgres "$WORK/pg"
  as_pg "$PGBIN/initdb" -D "$WORK/pg/data" -U postgres --auth=trust -E UTF8 --locale=C >/dev/null
  as_pg "$PGBIN/pg_ctl" -D "$WORK/pg/data" -l "$WORK/pg/log" -w -o "-p $PORT -k $WORK/pg \
    -c listen_addresses=127.0.0.1 -c shared_buffers=1GB -c max_wal_size=4GB \
    -c maintenance_work_mem=512MB -c checkpoint_timeout=30min" start >/dev/null
  URL="postgres://postgres@127.0.0.1:$PORT"
  trap stop_server EXIT
}

stop_server() {
  as_pg "$PGBIN/pg_ctl" -D "$WORK/pg/data" -m fast -w stop >/dev/null 2>&1 || true
  [ -n "${BENCH_KEEP:-}" ] || rm -rf "$WORK"
}

psql_q() { "$PGBIN/psql" -X -q -At -v ON_ERROR_STOP=1 "$@"; }

# measure LABEL CMD… — runs CMD under GNU time; prints wall seconds, MB/s of the database
# size, and peak RSS of the largest process.
measure() {
  local label="$1"; shift
  # Start every measurement from a clean checkpoint, so no run pays for the previous one's
  # dirty buffers and WAL (order must not decide who wins).
  psql_q -d "$URL/postgres" -c checkpoint
  sync
  local tf="$WORK/time.$$"
  /usr/bin/time -v -o "$tf" "$@" >"$WORK/last.out" 2>"$WORK/last.err" || {
    echo "FAILED: $label"; cat "$WORK/last.err" | tail -5; return 1; }
  local wall rss secs
  wall="$(grep 'Elapsed (wall clock)' "$tf" | awk '{print $NF}')"
  secs="$(echo "$wall" | awk -F: '{ if (NF==3) print $1*3600+$2*60+$3; else print $1*60+$2 }')"
  rss="$(grep 'Maximum resident set size' "$tf" | awk '{print int($NF/1024)}')"
  printf '%-48s %8.1f s %8.1f MB/s %7s MiB peak RSS\n' "$label" "$secs" \
    "$(echo "$DB_BYTES $secs" | awk '{ if ($2 > 0) print $1/1e6/$2; else print 0 }')" "$rss" | tee -a "$RESULTS"
}

db_size() { psql_q -d "$URL/$1" -c "select pg_database_size(current_database())"; }

row_counts() {
  psql_q -d "$URL/$1" -c "select string_agg(relname || '=' || n, ' ' order by relname) from (
     select c.relname, (xpath('/row/c/text()', query_to_xml(format('select count(*) as c from %I.%I', n.nspname, c.relname), false, true, '')))[1]::text::bigint n
     from pg_class c join pg_namespace n on n.oid = c.relnamespace
     where c.relkind = 'r' and n.nspname = 'public') s"
}

# The ~2 GB database of the issue: pgbench at BENCH_SCALE (130) plus a wide text table.
build_database() {
  local db="$1" scale="${BENCH_SCALE:-130}"
  psql_q -d "$URL/postgres" -c "create database $db"
  "$PGBIN/pgbench" -i -q -s "$scale" "$URL/$db" >/dev/null 2>&1
  local rows=$(( scale * 7700 ))
  psql_q -d "$URL/$db" -c "create table wide as select g as id, md5(g::text) || md5((g+1)::text) as a,
      repeat(md5((g*3)::text), 3) as b, md5((g*7)::text) || repeat('x', 40) as c
      from generate_series(1, $rows) g; alter table wide add primary key (id);" -c "vacuum analyze"
  DB_BYTES="$(db_size "$db")"
  echo "database $db: $(( DB_BYTES / 1048576 )) MiB (pgbench scale $scale + wide text table)" | tee -a "$RESULTS"
}

setup_keys() {
  "$LIFEBOAT" key generate -o "$WORK/key.txt" >"$WORK/recipient.txt" 2>/dev/null
  RECIPIENT="$(cat "$WORK/recipient.txt")"
  export LIFEBOAT_AGE_RECIPIENTS="$RECIPIENT" LIFEBOAT_AGE_IDENTITY_FILE="$WORK/key.txt"
  export LIFEBOAT_PG_BIN_DIR="$PGBIN" LIFEBOAT_LOG=warn
}

new_repo() { export LIFEBOAT_REPO="$WORK/repo-$1"; "$LIFEBOAT" init >/dev/null; }

size_of() { du -sb "$1" | awk '{printf "%.0f MiB", $1/1048576}'; }
