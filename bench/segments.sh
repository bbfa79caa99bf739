#!/usr/bin/env bash
# Issue 8 benchmark: memory stays bounded whatever a stream's size, because a stream rolls
# over into segments (each a complete age file) instead of growing its S3 parts. One big
# unsplit table (--split-size 0, --jobs 1: a single stream) is backed up to S3 (a moto server
# on loopback, path-style, 5 MiB parts, 4 parts in flight) with the default segment size
# (16 GiB: one object) and with tiny ones (64 MiB, 8 MiB: tens to hundreds of objects), then
# restored from the most-segmented backup. Prints median wall time, peak RSS and machine CPU
# of each, and how many objects the stream became; the restore's rows are checked.
#
# Without segments, S3's 10,000-part limit makes parts double past part 2,000 (10 GiB at
# 5 MiB parts), and memory with them: (concurrency + 1) × part size, up to 5 × 5 GiB. With
# segments of at most 16 GiB, no upload ever passes part 2,000 at 8 MiB parts or more.
#   bench/segments.sh                  # ~1.5 GB table, ~10 min
#   BENCH_SCALE=10 bench/segments.sh   # quick (~120 MB)
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

VENV="${LIFEBOAT_TEST_VENV:-$ROOT/.venv}"
if [ ! -x "$VENV/bin/moto_server" ]; then
  log "installing moto[server] into $VENV"
  python3 -m venv "$VENV" && "$VENV/bin/pip" install --quiet 'moto[server]>=5,<6'
fi
MOTO_PORT="$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')"
"$VENV/bin/moto_server" -H 127.0.0.1 -p "$MOTO_PORT" >"$WORK/moto.log" 2>&1 &
MOTO_PID=$!
trap 'kill $MOTO_PID 2>/dev/null || true; cleanup' EXIT
for _ in $(seq 1 100); do
  python3 -c "import urllib.request; urllib.request.urlopen('http://127.0.0.1:$MOTO_PORT/')" >/dev/null 2>&1 && break
  sleep 0.2
done
export AWS_ACCESS_KEY_ID=bench AWS_SECRET_ACCESS_KEY=bench AWS_REGION=us-east-1 AWS_EC2_METADATA_DISABLED=true
export LIFEBOAT_S3_ENDPOINT="http://127.0.0.1:$MOTO_PORT" LIFEBOAT_S3_PATH_STYLE=true LIFEBOAT_PART_SIZE=5MiB
bucket=0
s3_repo() {
  bucket=$((bucket + 1))
  python3 -c "import urllib.request; urllib.request.urlopen(urllib.request.Request('http://127.0.0.1:$MOTO_PORT/bench$bucket', method='PUT'))"
  export LIFEBOAT_REPO="s3://bench$bucket/pg"
  "$LIFEBOAT" init >/dev/null
}
objects_of_stream() {
  "$LIFEBOAT" show latest --json | python3 -c '
import json, sys
t = json.load(sys.stdin)["databases"][0]["tables"][0]["object"]
print(len(t["parts"]), "objects,", round(sum(p["size"] for p in t["parts"]) / 1048576), "MiB stored")'
}

build_lifeboat
start_server
setup_keys
build_single_table single
SRC_ROWS="$(row_counts single)"

section "one stream of $(mib "$DB_BYTES") MiB to S3 (moto), 5 MiB parts, --jobs 1 --split-size 0"
for seg in default 64MiB 8MiB; do
  args=(backup --source "$URL/postgres" --database single --jobs 1 --split-size 0)
  [ "$seg" = default ] || args+=(--segment-size "$seg")
  PREP="s3_repo" measure "lifeboat backup, segment size $seg" "$LIFEBOAT" "${args[@]}"
  note "segment size $seg: the table's stream is $(objects_of_stream)"
done

section "restore of the 8 MiB-segment backup"
drop_db restored
PREP="drop_db restored" measure "lifeboat restore --jobs 1 (stream of many segments)" \
  "$LIFEBOAT" restore latest --database single --into "$URL/restored" --create --jobs 1
msg="$(check_rows "lifeboat restore" "$SRC_ROWS" restored)" || { echo "$msg"; exit 1; }
note "$msg"

echo
echo "== results (PostgreSQL 15, scale $SCALE, $(nproc) cores)"
print_table
