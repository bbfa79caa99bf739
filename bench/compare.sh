#!/usr/bin/env bash
# Regression check between two builds: backup and restore of the ~2 GB bench database,
# INTERLEAVED (A, B, A, B, …), so drift of this VM during a run (autovacuum, page cache,
# neighbours: ±20% here) hits both builds alike. Running one build's repeats back to back,
# as measure() does, showed a 13% restore "regression" that interleaving did not confirm.
#   BENCH_BASELINE=/path/to/older/lifeboat bench/compare.sh     # ~8 min with a kept database
#   BENCH_ROUNDS=7 (default 5)
# Prints each run and the medians of wall time and machine CPU per build and operation.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
[ -n "$BASELINE" ] || { echo "set BENCH_BASELINE to the older lifeboat binary" >&2; exit 2; }
ROUNDS="${BENCH_ROUNDS:-5}"

build_lifeboat
start_server
setup_keys
build_database bench
declare -A BIN=([baseline]="$BASELINE" [current]="$LIFEBOAT")
OUT="$WORK/compare.txt"

run() { # build operation: one timed run, appended to $OUT
  local b="$1" op="$2" repo="$WORK/repo-$1" t0 t1 s0 s1
  psql_q -d "$URL/postgres" -c checkpoint; sync
  t0="$(machine_ticks)"; s0="$(date +%s.%N)"
  if [ "$op" = backup ]; then
    LIFEBOAT_REPO="$repo" "${BIN[$b]}" backup --source "$URL/postgres" --database bench \
      --jobs 2 --split-size "$SPLIT" >/dev/null 2>"$WORK/last.err"
  else
    LIFEBOAT_REPO="$repo" "${BIN[$b]}" restore latest --database bench \
      --into "$URL/restored_lifeboat" --create --jobs 2 >/dev/null 2>"$WORK/last.err"
  fi || { cat "$WORK/last.err" >&2; exit 1; }
  s1="$(date +%s.%N)"; t1="$(machine_ticks)"
  printf '%s %s %.2f %.1f\n' "$b" "$op" "$(echo "$s1 - $s0" | bc)" \
    "$(echo "($t1 - $t0) / $(getconf CLK_TCK)" | bc -l)" | tee -a "$OUT"
}

for b in baseline current; do
  rm -rf "$WORK/repo-$b"; LIFEBOAT_REPO="$WORK/repo-$b" "${BIN[$b]}" init >/dev/null
done
for ((r = 1; r <= ROUNDS; r++)); do
  for b in baseline current; do run "$b" backup; done
  for b in baseline current; do drop_db restored_lifeboat; run "$b" restore; done
done
drop_db restored_lifeboat
echo
echo "== medians of $ROUNDS interleaved rounds (PostgreSQL 15, scale $SCALE, $(nproc) cores)"
median() { sort -n | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'; }
for op in backup restore; do
  for b in baseline current; do
    w="$(awk -v b="$b" -v op="$op" '$1 == b && $2 == op { print $3 }' "$OUT")"
    c="$(awk -v b="$b" -v op="$op" '$1 == b && $2 == op { print $4 }' "$OUT")"
    printf '%-8s %-9s wall %6s s (%s-%s)  machine CPU %5s s\n' "$op" "$b" "$(median <<<"$w")" \
      "$(sort -n <<<"$w" | head -1)" "$(sort -n <<<"$w" | tail -1)" "$(median <<<"$c")"
  done
done
