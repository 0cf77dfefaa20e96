#!/usr/bin/env bash
# Deploys the example stacks as users do (`synth render -o`, `aws cloudformation package`,
# `aws cloudformation deploy`), then a change, then a delete, against moto's CloudFormation.
#
#   bash scripts/deploy-e2e.sh            (SYNTH_BIN=path: use that synth binary, build none)
#
# Starts its own moto server on a free loopback port (it needs none of the database servers)
# and stops it on any exit. The venv is the one scripts/testenv.sh prepares
# (scripts/requirements-test.txt: moto and the AWS CLI). The checks, and what moto does not
# model, are in scripts/deploy_e2e.py.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
VENV="$ROOT/.venv"

log() { printf 'deploy-e2e: %s\n' "$*" >&2; }
die() { printf 'deploy-e2e: ERROR: %s\n' "$*" >&2; exit 1; }
# shellcheck source=scripts/binaries.sh
. "$ROOT/scripts/binaries.sh"

[[ -x "$VENV/bin/moto_server" && -x "$VENV/bin/aws" ]] \
  || die "$VENV lacks moto_server or aws: run scripts/testenv.sh up (it installs scripts/requirements-test.txt)"

MOTO_PID=""
MOTO_LOG="$(mktemp)"
cleanup() {
  local rc=$?
  if [[ -n "$MOTO_PID" ]]; then kill "$MOTO_PID" 2>/dev/null || true; wait "$MOTO_PID" 2>/dev/null || true; fi
  [[ $rc -eq 0 ]] || tail -n 30 "$MOTO_LOG" >&2 || true
  rm -f "$MOTO_LOG"
  exit "$rc"
}
trap cleanup EXIT

PORT="$("$VENV/bin/python" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
"$VENV/bin/moto_server" -H 127.0.0.1 -p "$PORT" >"$MOTO_LOG" 2>&1 &
MOTO_PID=$!
for _ in $(seq 1 100); do
  curl -fsS -o /dev/null "http://127.0.0.1:$PORT/moto-api/" 2>/dev/null && break
  kill -0 "$MOTO_PID" 2>/dev/null || die "moto exited"
  sleep 0.2
done

synth="$(built_binary SYNTH_BIN synth synth)"
configs=()
for f in examples/*.yaml; do
  case "$f" in *.template.yaml) ;; *) configs+=("$f") ;; esac
done
log "moto on 127.0.0.1:$PORT; ${#configs[@]} example configs"
"$VENV/bin/python" scripts/deploy_e2e.py --endpoint "http://127.0.0.1:$PORT" \
  --aws "$VENV/bin/aws" --synth "$synth" "${configs[@]}"
