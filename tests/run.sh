#!/usr/bin/env bash
# The whole test suite against real servers: PostgreSQL and moto (S3/RDS), started here
# and stopped on exit. Extra arguments go to cargo nextest (e.g. a test name filter).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

command -v cargo-nextest >/dev/null 2>&1 || cargo install --locked cargo-nextest
cargo build --all-targets --locked
trap 'tests/servers.sh stop' EXIT
tests/servers.sh start
# shellcheck disable=SC1091
source target/test-servers/env
cargo nextest run --locked --no-fail-fast "$@"
