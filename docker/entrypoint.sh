#!/bin/sh
# The image's entrypoint: `run` (default) starts the scheduler daemon; `healthcheck` asks a
# running daemon; anything else is one lifeboat command (`backup --globals`, `verify`, …), so
# the same image serves a cron container or a Kubernetes CronJob. Exit codes are lifeboat's.
set -eu
case "${1:-run}" in
  healthcheck)
    # One-shot containers have no daemon to ask: healthy while their command runs.
    [ -e "${HOME:-/tmp}/.lifeboat-daemon" ] || exit 0
    exec curl -fsS --max-time 4 "${LIFEBOAT_HEALTH_URL:-http://127.0.0.1:9187/healthz}" >/dev/null
    ;;
  run)
    touch "${HOME:-/tmp}/.lifeboat-daemon" 2>/dev/null || true
    exec lifeboat "$@"
    ;;
  lifeboat)
    shift
    exec lifeboat "$@"
    ;;
  *)
    exec lifeboat "$@"
    ;;
esac
