# The function as Lambda runs it, on loopback: sourced by scripts/lambda-e2e.sh and
# scripts/demo.sh.
#
# cargo-lambda's emulator of the Lambda APIs (`cargo lambda watch --only-lambda-apis`) takes
# invocations on 127.0.0.1:PORT and holds each one until the function asks for it over the
# Runtime API, as Lambda's own service does. The function is a binary given here rather than
# one the emulator builds with `cargo run` (scripts/binaries.sh: the one `make test`'s cargo
# tests built, or one built with the function's own features, exactly as it ships).
#
# The caller sets VENV (the venv holding cargo-lambda) and WAIT_SECS, and defines `die`.

# emulator_start BINARY PORT ENV_FILE LOG [READY_FILE]: starts, in a new process group whose
# id lands in EMULATOR_PID, the emulator on 127.0.0.1:PORT and then the function BINARY with
# ENV_FILE's variables (KEY=VALUE lines) and the ones Lambda sets, both writing to LOG. With
# READY_FILE, the function starts once that file exists (its settings layer, written after
# the emulator starts). Returns once the emulator listens; dies if it does not.
EMULATOR_PID=""
emulator_start() {
  local binary="$1" port="$2" env_file="$3" log_file="$4" ready="${5:-}" deadline
  PATH="$VENV/bin:$PATH" setsid bash -c '
    binary=$1 port=$2 env_file=$3 ready=$4
    cargo lambda watch --only-lambda-apis --invoke-address 127.0.0.1 --invoke-port "$port" &
    emulator=$!
    # A plain TCP connect: the emulator takes no request before the function exists.
    until (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; do
      kill -0 "$emulator" 2>/dev/null || exit 1
      sleep 0.1
    done
    while [ -n "$ready" ] && [ ! -e "$ready" ]; do
      kill -0 "$emulator" 2>/dev/null || exit 1
      sleep 0.1
    done
    vars=()
    while IFS= read -r line || [ -n "$line" ]; do
      case "$line" in "" | "#"*) ;; *) vars+=("$line") ;; esac
    done <"$env_file"
    # The variables Lambda gives a function; the Runtime API path names the function, so the
    # emulator hands it the invocations sent to functions/bootstrap.
    exec env "${vars[@]}" AWS_LAMBDA_FUNCTION_NAME=bootstrap AWS_LAMBDA_FUNCTION_VERSION=1 \
      AWS_LAMBDA_FUNCTION_MEMORY_SIZE=4096 \
      AWS_LAMBDA_RUNTIME_API="http://127.0.0.1:$port/.rt/bootstrap" "$binary"
  ' emulator "$binary" "$port" "$env_file" "$ready" >"$log_file" 2>&1 </dev/null &
  EMULATOR_PID=$!
  deadline=$((SECONDS + WAIT_SECS))
  until (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; do
    kill -0 "$EMULATOR_PID" 2>/dev/null || die "the Lambda emulator on :$port exited during startup"
    [ "$SECONDS" -lt "$deadline" ] || die "the Lambda emulator on :$port did not listen within ${WAIT_SECS}s"
    sleep 0.2
  done
}

# emulator_stop PID: stops the emulator and the function (the whole process group).
emulator_stop() {
  [ -n "$1" ] || return 0
  kill -- "-$1" 2>/dev/null || true
  wait "$1" 2>/dev/null || true
}
