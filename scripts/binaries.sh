# The binaries the end-to-end scripts run: sourced by scripts/lambda-e2e.sh,
# scripts/deploy-e2e.sh and scripts/demo.sh. The caller sets ROOT and defines `die`.

# built_binary VAR PACKAGE BIN: the path of BIN: the value of the variable VAR when set
# (`make test` passes the binaries its cargo tests built, so nothing compiles twice), else
# `cargo build -p PACKAGE --bin BIN` builds it with the package's own features, as it ships.
# Cargo's messages go to stderr.
built_binary() {
  local var="$1" package="$2" bin="$3" given="${!1:-}"
  if [ -n "$given" ]; then
    [ -x "$given" ] || die "$var=$given is not an executable file"
    printf '%s\n' "$given"
    return
  fi
  cargo build -q -p "$package" --bin "$bin" >&2 || die "cargo build -p $package --bin $bin failed"
  printf '%s\n' "${CARGO_TARGET_DIR:-$ROOT/target}/debug/$bin"
}
