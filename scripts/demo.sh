#!/usr/bin/env bash
# A guided demo of the rotation function, run as Lambda runs it, against local servers:
#
#   make demo            (or: bash scripts/demo.sh)
#
# It builds the `bootstrap` binary (BOOTSTRAP=path: uses that one), starts the test servers
# (scripts/testenv.sh up: PostgreSQL, MariaDB and moto's Secrets Manager, all on loopback) and
# the local Lambda emulator (scripts/emulator.sh), then scripts/demo.py creates database users
# and their secrets, rotates
# them through the four steps, proves the new passwords log in, and asks the function for its
# preflight report. Whatever happens (failure, Ctrl-C), everything it started is stopped and
# everything it created is removed. Servers already up (`make testenv-up`) are used and left up.
# No password is ever printed, and the demo checks its own output for them.
#
# DEMO_QUICK=1              two rotations (PostgreSQL single user, MariaDB alternating users)
#                           instead of both strategies on both engines
# DEMO_PASSWORDS_FILE=path  also write every password the demo knew there (mode 0600), to check
#                           a captured output: make demo | tee out; grep -F -f path out
# DEMO_DEBUG=1              a traceback with each unexpected error
# NO_COLOR=1                plain output even on a terminal
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
VENV="$ROOT/.venv"
STATE="$ROOT/.testenv"
WAIT_SECS="${DEMO_WAIT_SECS:-120}"
# shellcheck source=scripts/binaries.sh
. "$ROOT/scripts/binaries.sh"
# shellcheck source=scripts/emulator.sh
. "$ROOT/scripts/emulator.sh"

# ---------------------------------------------------------------- output
now_ms() { local t="${EPOCHREALTIME//[!0-9]/}"; echo $((t / 1000)); }
T0_MS="$(now_ms)"
export DEMO_T0_MS="$T0_MS"
if [ -t 1 ] && [ -z "${NO_COLOR:-}" ]; then
  B=$'\e[1m'; DIM=$'\e[2m'; RED=$'\e[31m'; GREEN=$'\e[32m'; R=$'\e[0m'
else
  B=""; DIM=""; RED=""; GREEN=""; R=""
fi
stamp() { local e=$(($(now_ms) - T0_MS)); printf '[%4d.%ds]' $((e / 1000)) $((e % 1000 / 100)); }
stage() { printf '%s %s▸ %s%s\n' "$(stamp)" "$B" "$*" "$R"; }
info() { printf '%s    %s\n' "$(stamp)" "$*"; }
ok() { printf '%s    %s✓%s %s\n' "$(stamp)" "$GREEN" "$R" "$*"; }
err() { printf '%s    %s✗ ERROR:%s %s\n' "$(stamp)" "$RED" "$R" "$*" >&2; }
secs_since() { local e=$(($(now_ms) - $1)); printf '%d.%ds' $((e / 1000)) $((e % 1000 / 100)); }
# Indent a tool's own progress lines under the current stage.
indent() { sed -u "s/^/             ${DIM}│${R} /"; }
# A failure of the build or of the emulator's start (scripts/binaries.sh, scripts/emulator.sh).
die() { RESULT="$*"; err "$*"; exit 1; }

# ---------------------------------------------------------------- cleanup
OWN_ENV=0
EMULATOR_UP=0
WORK=""
RESULT=""
cleanup() {
  local rc=$?
  # Nothing, not even a second Ctrl-C, stops the cleanup half way.
  trap - EXIT
  trap '' INT TERM HUP PIPE
  set +e
  if [ -n "$EMULATOR_PID" ] || [ "$OWN_ENV" = 1 ] || [ -n "$WORK" ]; then
    stage "cleaning up"
  fi
  if [ -n "$EMULATOR_PID" ]; then
    emulator_stop "$EMULATOR_PID"
    # Its log only when it failed to start: nothing was invoked yet, so it holds no secret value.
    if [ "$EMULATOR_UP" = 0 ] && [ -f "$WORK/emulator.log" ]; then
      printf -- '----- last lines of the emulator and function log -----\n' >&2
      tail -n 30 "$WORK/emulator.log" >&2
      printf -- '-----\n' >&2
    fi
    ok "emulator stopped"
  fi
  if [ "$OWN_ENV" = 1 ]; then
    scripts/testenv.sh down 2>&1 | indent
    ok "servers stopped, .testenv removed"
  fi
  [ -n "$WORK" ] && rm -rf "$WORK"
  local total; total="$(secs_since "$T0_MS")"
  case "$rc" in
    0) printf '%s %s%sdemo finished in %s%s\n' "$(stamp)" "$B" "$GREEN" "$total" "$R" ;;
    130) printf '%s %sdemo interrupted after %s%s\n' "$(stamp)" "$B" "$total" "$R" >&2 ;;
    *) printf '%s %s%sdemo FAILED after %s%s%s\n' "$(stamp)" "$B" "$RED" "$total" "${RESULT:+: $RESULT}" "$R" >&2 ;;
  esac
  exit "$rc"
}
trap cleanup EXIT
# A signal ends the demo through the cleanup too: Ctrl-C, a closed terminal, or the reader of
# the output gone (`make demo | head`).
trap 'exit 130' INT TERM
trap 'exit 129' HUP
trap 'exit 141' PIPE

printf '%sRDS secret rotation, live: the real function under a local Lambda emulator%s\n' "$B" "$R"
printf '%sPostgreSQL and MariaDB servers and a Secrets Manager mock on this machine, loopback only.%s\n\n' "$DIM" "$R"

command -v cargo >/dev/null 2>&1 || { RESULT="cargo not found"; err "cargo is not on PATH (install Rust)"; exit 1; }
command -v python3 >/dev/null 2>&1 || { RESULT="python3 not found"; err "python3 is not on PATH"; exit 1; }

# Scratch space: the function's environment file and the emulator's log.
WORK="$(mktemp -d -t rotation-demo.XXXXXX)"

# ---------------------------------------------------------------- 1. build
if [ -n "${BOOTSTRAP:-}" ]; then
  stage "the function: ${BOOTSTRAP#"$ROOT"/} (BOOTSTRAP), already built"
else
  stage "building the function (cargo build -p rotation-lambda --bin bootstrap)"
  [ -x target/debug/bootstrap ] || info "the first build compiles every dependency: a few minutes, once"
fi
t="$(now_ms)"
# Cargo's warnings and errors, indented under the stage once it is done.
if ! FUNCTION="$(built_binary BOOTSTRAP rotation-lambda bootstrap 2>"$WORK/build.log")"; then
  indent <"$WORK/build.log"; RESULT="no function to run (see above)"; exit 1
fi
indent <"$WORK/build.log"
[ -n "${BOOTSTRAP:-}" ] || ok "bootstrap built ($(secs_since "$t"))"

# ---------------------------------------------------------------- 2. servers
t="$(now_ms)"
# .testenv is shared with `make test`: never start or stop it while another up/down is at work.
# The pattern is anchored to the script's own command line: `make test`'s shell, which runs the
# demo, names `scripts/testenv.sh up` and `down` in its recipe text.
BUSY='^([^ ]*bash )?[^ ]*testenv\.sh (up|down)'
if pgrep -f "$BUSY" >/dev/null 2>&1; then
  stage "waiting for another scripts/testenv.sh up/down to finish (.testenv is shared)"
  deadline=$((SECONDS + WAIT_SECS))
  while pgrep -f "$BUSY" >/dev/null 2>&1; do
    if [ "$SECONDS" -ge "$deadline" ]; then
      RESULT="scripts/testenv.sh busy"; err "another scripts/testenv.sh up/down still runs after ${WAIT_SECS}s"; exit 1
    fi
    sleep 0.5
  done
fi
if [ -f "$STATE/env" ]; then
  stage "servers: reusing those already running (scripts/testenv.sh up), left running afterwards"
else
  stage "starting PostgreSQL, MariaDB and the Secrets Manager mock (scripts/testenv.sh up)"
  OWN_ENV=1
  if ! scripts/testenv.sh up 2>&1 | tee "$WORK/testenv.log" | indent; then
    why="$(sed -n 's/^testenv: ERROR: //p' "$WORK/testenv.log" | tail -n 1)"
    RESULT="the local servers did not start${why:+ ($why)}"
    err "the local servers could not be started: ${why:-see above}"
    exit 1
  fi
fi
set -a
# shellcheck disable=SC1091
. "$STATE/env"
set +a
ok "servers up ($(secs_since "$t")): PostgreSQL :$ROTATION_TEST_PG_PORT, MariaDB :$ROTATION_TEST_MARIADB_PORT, Secrets Manager ${ROTATION_TEST_SM_ENDPOINT#http://}"

# ---------------------------------------------------------------- tools in the venv
want_lambda="$(sed -n 's/^cargo-lambda==//p' scripts/requirements-lambda.txt)"
have_lambda="$("$VENV/bin/cargo-lambda" lambda --version 2>/dev/null || true)"
if [[ "$have_lambda" != *"$want_lambda"* ]]; then
  stage "installing cargo-lambda $want_lambda into the venv (scripts/requirements-lambda.txt)"
  "$VENV/bin/python" -m pip install -q --disable-pip-version-check -r scripts/requirements-lambda.txt 2>&1 | indent \
    || { RESULT="cargo-lambda install failed"; err "pip install -r scripts/requirements-lambda.txt failed"; exit 1; }
fi
if ! "$VENV/bin/python" -c 'import boto3, pg8000, pymysql' 2>/dev/null; then
  stage "installing the Python test packages (scripts/requirements-test.txt)"
  "$VENV/bin/python" -m pip install -q --disable-pip-version-check -r scripts/requirements-test.txt 2>&1 | indent \
    || { RESULT="pip install failed"; err "pip install -r scripts/requirements-test.txt failed"; exit 1; }
fi

# ---------------------------------------------------------------- 3. the emulator
PORT="$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
stage "starting the Lambda emulator (cargo lambda watch --only-lambda-apis) on 127.0.0.1:$PORT"
t="$(now_ms)"
# The function's configuration, as the stack would set it. The settings file (which secrets,
# which strategy, which master) is written by demo.py once the secrets exist, before the first
# invocation: the stack puts it in the settings layer.
cat >"$WORK/function.env" <<EOF
SECRETS_MANAGER_ENDPOINT=$ROTATION_TEST_SM_ENDPOINT
DB_CA_BUNDLE=$ROTATION_TEST_CA
DB_TLS=verify-full
ROTATION_STRATEGY=auto
ROTATION_SETTINGS=$WORK/settings.json
PASSWORD_LENGTH=32
AWS_ACCESS_KEY_ID=$AWS_ACCESS_KEY_ID
AWS_SECRET_ACCESS_KEY=$AWS_SECRET_ACCESS_KEY
AWS_REGION=$AWS_REGION
AWS_EC2_METADATA_DISABLED=true
RUST_LOG=info
EOF
# The function starts once demo.py has written its settings file, as Lambda starts a function
# with its layers in place. An emulator that fails to start ends the demo through `die`, its
# log shown by the cleanup.
emulator_start "$FUNCTION" "$PORT" "$WORK/function.env" "$WORK/emulator.log" "$WORK/settings.json"
EMULATOR_UP=1
ok "emulator listening ($(secs_since "$t")); the function starts once its settings are written"

# ---------------------------------------------------------------- 4. the demo itself
DEMO_ARGS=(--invoke-url "http://127.0.0.1:$PORT/2015-03-31/functions/bootstrap/invocations"
           --settings "$WORK/settings.json")
case "${DEMO_QUICK:-0}" in 0 | "" | false | no) ;; *) DEMO_ARGS+=(--quick) ;; esac
set +e
PYTHONDONTWRITEBYTECODE=1 "$VENV/bin/python" scripts/demo.py "${DEMO_ARGS[@]}"
rc=$?
set -e
case "$rc" in 129 | 130 | 141) exit "$rc" ;; esac
if [ "$rc" -ne 0 ]; then RESULT="see the ✗ lines above"; exit "$rc"; fi
