# Shared by the scripts that drive `convcheck serve` in another process (sourced, not run).
#   build_convcheck [release]     sets BIN
#   venv_install REQUIREMENTS     sets VENV (target/clients-venv) and installs into it
#   openapi_spec                  sets SPEC to Twilio's OpenAPI description of Conversations,
#                                 fetched from npm into target/prism when missing
#   npm_install DIR               `npm ci` in DIR, unless its node_modules already holds
#                                 exactly what its package-lock.json says
#   start_emulator [SERVE ARGS]   starts `convcheck serve --port 0 ARGS`, waits at most 30 s
#                                 for it to listen, sets PID, LOG and BASE
#   stop_emulator                 stops it (call from the caller's EXIT trap)
# ROOT must name the repository root.

build_convcheck() {
  if [ "${1:-}" = release ]; then
    cargo build --release --quiet --bin convcheck
    BIN="${CARGO_TARGET_DIR:-$ROOT/target}/release/convcheck"
  else
    cargo build --quiet --bin convcheck
    BIN="${CARGO_TARGET_DIR:-$ROOT/target}/debug/convcheck"
  fi
}

venv_install() {
  VENV="$ROOT/target/clients-venv"
  mkdir -p "$ROOT/target"
  [ -x "$VENV/bin/python" ] || python3 -m venv "$VENV"
  "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check -r "$1"
}

npm_install() {
  # npm ci always deletes node_modules and installs again: skip it when the last one here
  # installed this very lock file (scripts/fetch-test-tools may have, moments before).
  local stamp="$1/node_modules/.installed-package-lock.json"
  if [ -f "$stamp" ] && cmp -s "$1/package-lock.json" "$stamp"; then
    return 0
  fi
  (cd "$1" && npm ci --no-audit --no-fund --loglevel=error) && cp "$1/package-lock.json" "$stamp"
}

openapi_spec() {
  local work="$ROOT/target/prism"
  SPEC="$work/package/twilio-oai/spec/json/twilio_conversations_v1.json"
  [ -f "$SPEC" ] && return 0
  mkdir -p "$work"
  (cd "$work" && npm pack --silent @twilio-alpha/mcp@0.7.0 >/dev/null && tar xzf twilio-alpha-mcp-0.7.0.tgz)
}

start_emulator() {
  LOG="$(mktemp)"
  "$BIN" serve --port 0 "$@" >"$LOG" 2>&1 </dev/null &
  PID=$!
  BASE=""
  for _ in $(seq 1 300); do
    BASE="$(sed -n 's/^convcheck emulator listening on //p' "$LOG")"
    [ -n "$BASE" ] && return 0
    if ! kill -0 "$PID" 2>/dev/null; then
      echo "the emulator exited early:" >&2
      cat "$LOG" >&2
      return 1
    fi
    sleep 0.1
  done
  echo "the emulator did not start listening within 30 s:" >&2
  cat "$LOG" >&2
  return 1
}

stop_emulator() {
  if [ -n "${PID:-}" ]; then
    kill -TERM "$PID" 2>/dev/null || true
    wait "$PID" 2>/dev/null || true
  fi
  rm -f "${LOG:-}"
}
