#!/usr/bin/env bash
# End-to-end test of the rotation function as Lambda runs it: the `bootstrap` binary under
# cargo-lambda's emulator of the Lambda APIs (scripts/emulator.sh; a native build, no
# cross-compilation), invoked over HTTP with the four rotation steps against the test servers.
#
#   bash scripts/lambda-e2e.sh      (BOOTSTRAP=path, SYNTH_BIN=path: use those binaries, build none)
#
# `make test` runs it after the cargo tests, with the servers already up and the binaries its
# cargo tests built. Run alone, it builds the function and synth with their own features, as
# they ship, and starts the servers (scripts/testenv.sh up) and stops them again on exit. Everything listens on loopback only.
# The checks themselves are in scripts/lambda_e2e.py; this script prepares the venv and owns the
# emulator's life: it is stopped on any exit.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
VENV="$ROOT/.venv"
STATE="$ROOT/.testenv"
WAIT_SECS="${LAMBDA_E2E_WAIT_SECS:-120}"
# Settings the function runs with; the checks verify the new passwords honour them.
PASSWORD_LENGTH=40
EXCLUDE_CHARACTERS=':/@%'

log() { printf 'lambda-e2e: %s\n' "$*" >&2; }
die() { printf 'lambda-e2e: ERROR: %s\n' "$*" >&2; exit 1; }
free_port() {
  python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}
# shellcheck source=scripts/binaries.sh
. "$ROOT/scripts/binaries.sh"
# shellcheck source=scripts/emulator.sh
. "$ROOT/scripts/emulator.sh"

OWN_ENV=0
WATCH_PID=""
WATCH_LOG=""
REFRESH_PID=""
REFRESH_LOG=""
cleanup() {
  local rc=$?
  # EMULATOR_PID: one that died or hung during its startup, before the caller kept its pid.
  for pid in "$WATCH_PID" "$REFRESH_PID" "$EMULATOR_PID"; do
    emulator_stop "$pid"
  done
  for log_file in "$WATCH_LOG" "$REFRESH_LOG"; do
    if [ "$rc" -ne 0 ] && [ -n "$log_file" ] && [ -f "$log_file" ]; then
      printf -- '----- last lines of %s -----\n' "${log_file#"$ROOT"/}" >&2
      tail -n 60 "$log_file" >&2 || true
      printf -- '-----\n' >&2
    fi
  done
  if [ "$OWN_ENV" = 1 ]; then
    [ "$rc" -eq 0 ] || scripts/testenv.sh logs || true
    scripts/testenv.sh down || true
  fi
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# ---------------------------------------------------------------- servers
if [ ! -f "$STATE/env" ]; then
  OWN_ENV=1
  scripts/testenv.sh up
fi
set -a
# shellcheck disable=SC1091
. "$STATE/env"
set +a

# ---------------------------------------------------------------- tools in the venv
[ -x "$VENV/bin/python" ] || die "no $VENV; scripts/testenv.sh up creates it"
want_lambda="$(sed -n 's/^cargo-lambda==//p' scripts/requirements-lambda.txt)"
have_lambda="$("$VENV/bin/cargo-lambda" lambda --version 2>/dev/null || true)"
if [[ "$have_lambda" != *"$want_lambda"* ]]; then
  log "installing cargo-lambda $want_lambda into the venv (scripts/requirements-lambda.txt)"
  "$VENV/bin/python" -m pip install -q --disable-pip-version-check -r scripts/requirements-lambda.txt \
    || die "pip install -r scripts/requirements-lambda.txt failed"
fi
if ! "$VENV/bin/python" -c 'import boto3, pg8000, pymysql' 2>/dev/null; then
  log "installing the Python test packages (scripts/requirements-test.txt)"
  "$VENV/bin/python" -m pip install -q --disable-pip-version-check -r scripts/requirements-test.txt \
    || die "pip install -r scripts/requirements-test.txt failed"
fi

[ -n "${BOOTSTRAP:-}" ] || log "building bootstrap"
FUNCTION="$(built_binary BOOTSTRAP rotation-lambda bootstrap)"
[ -n "${SYNTH_BIN:-}" ] || log "building synth"
SYNTH_BIN="$(built_binary SYNTH_BIN synth synth)"
export SYNTH_BIN

# ---------------------------------------------------------------- the emulator
PORT="$(free_port)"
ENV_FILE="$STATE/lambda-e2e.env"
WATCH_LOG="$STATE/lambda-e2e-watch.log"
cat >"$ENV_FILE" <<EOF
SECRETS_MANAGER_ENDPOINT=$ROTATION_TEST_SM_ENDPOINT
DB_CA_BUNDLE=$ROTATION_TEST_CA
DB_TLS=verify-full
ROTATION_STRATEGY=single-user
ROTATION_SETTINGS=from-secrets
PASSWORD_LENGTH=$PASSWORD_LENGTH
EXCLUDE_CHARACTERS=$EXCLUDE_CHARACTERS
REQUIRE_EACH_INCLUDED_TYPE=true
AWS_ACCESS_KEY_ID=$AWS_ACCESS_KEY_ID
AWS_SECRET_ACCESS_KEY=$AWS_SECRET_ACCESS_KEY
AWS_REGION=$AWS_REGION
AWS_EC2_METADATA_DISABLED=true
RUST_LOG=info
EOF

log "starting the emulator and ${FUNCTION#"$ROOT"/} on 127.0.0.1:$PORT"
emulator_start "$FUNCTION" "$PORT" "$ENV_FILE" "$WATCH_LOG"
WATCH_PID=$EMULATOR_PID

# ---------------------------------------------------------------- the function as a stack runs it
# The refresh of applications after a rotation needs a settings file that lists the secrets and
# their applications, read once at start: the scenario's secrets, ECS service and Lambda
# function are created in moto first, then a second emulator runs the same binary with that
# file and the ECS and Lambda APIs at moto (AWS_ENDPOINT_URL_ECS/LAMBDA, as the stack sets them
# for its endpoints).
REFRESH_STATE="$STATE/lambda-e2e-refresh.json"
REFRESH_SETTINGS="$STATE/lambda-e2e-refresh-settings.json"
"$VENV/bin/python" scripts/lambda_e2e.py --prepare-refresh "$REFRESH_STATE" \
  --settings-file "$REFRESH_SETTINGS"
REFRESH_PORT="$(free_port)"
REFRESH_ENV_FILE="$STATE/lambda-e2e-refresh.env"
REFRESH_LOG="$STATE/lambda-e2e-refresh-watch.log"
{
  sed -e "s|^ROTATION_SETTINGS=.*|ROTATION_SETTINGS=$REFRESH_SETTINGS|" \
    -e "s|^ROTATION_STRATEGY=.*|ROTATION_STRATEGY=auto|" "$ENV_FILE"
  printf 'AWS_ENDPOINT_URL_ECS=%s\nAWS_ENDPOINT_URL_LAMBDA=%s\n' \
    "$ROTATION_TEST_SM_ENDPOINT" "$ROTATION_TEST_SM_ENDPOINT"
} >"$REFRESH_ENV_FILE"
log "starting a second emulator and function (with the refresh settings) on 127.0.0.1:$REFRESH_PORT"
emulator_start "$FUNCTION" "$REFRESH_PORT" "$REFRESH_ENV_FILE" "$REFRESH_LOG"
REFRESH_PID=$EMULATOR_PID

# ---------------------------------------------------------------- the checks
t0=$SECONDS
LAMBDA_E2E_WATCH_LOG="$WATCH_LOG" "$VENV/bin/python" scripts/lambda_e2e.py \
  --invoke-url "http://127.0.0.1:$PORT/2015-03-31/functions/bootstrap/invocations" \
  --password-length "$PASSWORD_LENGTH" --exclude-characters "$EXCLUDE_CHARACTERS" \
  --refresh-invoke-url "http://127.0.0.1:$REFRESH_PORT/2015-03-31/functions/bootstrap/invocations" \
  --refresh-state "$REFRESH_STATE" --refresh-log "$REFRESH_LOG"
log "checks passed in $((SECONDS - t0))s"

# ---------------------------------------------------------------- phase two: the drift check
# The function as a stack deploys it: its settings file lists the secrets it rotates. The setup
# creates them and writes the file before the second emulator starts (a function instance reads
# it once, at its first invocation).
emulator_stop "$WATCH_PID"
WATCH_PID=""
DRIFT_STATE="$STATE/lambda-e2e-drift.json"
DRIFT_SETTINGS="$STATE/lambda-e2e-settings.json"
"$VENV/bin/python" scripts/lambda_e2e.py --drift-setup "$DRIFT_STATE" --settings "$DRIFT_SETTINGS"
PORT="$(free_port)"
sed -e '/^ROTATION_SETTINGS=/d' -e '/^ROTATION_STRATEGY=/d' "$ENV_FILE" >"$ENV_FILE.drift"
echo "ROTATION_SETTINGS=$DRIFT_SETTINGS" >>"$ENV_FILE.drift"
WATCH_LOG="$STATE/lambda-e2e-watch-drift.log"
log "starting the emulator and function with the settings file on 127.0.0.1:$PORT"
emulator_start "$FUNCTION" "$PORT" "$ENV_FILE.drift" "$WATCH_LOG"
WATCH_PID=$EMULATOR_PID
t0=$SECONDS
LAMBDA_E2E_WATCH_LOG="$WATCH_LOG" "$VENV/bin/python" scripts/lambda_e2e.py \
  --drift-check "$DRIFT_STATE" \
  --invoke-url "http://127.0.0.1:$PORT/2015-03-31/functions/bootstrap/invocations"
log "drift check passed in $((SECONDS - t0))s"
