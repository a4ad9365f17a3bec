#!/usr/bin/env bash
# Runs the official Twilio helper libraries, unmodified, against `convcheck serve`:
# twilio on PyPI (9.x, in a venv under target/clients-venv) and twilio on npm (6.x, in
# tests/clients/node_modules). Works from a fresh clone, without stdin, with CI=true.
# The server is always stopped, whatever happens.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$ROOT"
CLIENTS="$ROOT/tests/clients"
VENV="$ROOT/target/clients-venv"

echo "== installing the helper libraries"
mkdir -p "$ROOT/target"
if [ ! -x "$VENV/bin/python" ]; then
  python3 -m venv "$VENV"
fi
"$VENV/bin/python" -m pip install --quiet --disable-pip-version-check -r "$CLIENTS/requirements.txt"
(cd "$CLIENTS" && npm ci --no-audit --no-fund --loglevel=error)

echo "== building convcheck"
cargo build --quiet --bin convcheck
BIN="${CARGO_TARGET_DIR:-$ROOT/target}/debug/convcheck"

# Fixed account and per-run token, passed as flags so an outer TWILIO_* environment
# cannot change what the server accepts.
ACCOUNT="ACc0ffee00c0ffee00c0ffee00c0ffee00"
SERVICE="IS00000000000000000000000000000002"
TOKEN="run-$(od -An -N8 -tx1 /dev/urandom | tr -d ' \n')"

LOG="$(mktemp)"
"$BIN" serve --port 0 --account-sid "$ACCOUNT" --auth-token "$TOKEN" --service "$SERVICE" \
  >"$LOG" 2>&1 </dev/null &
PID=$!
cleanup() {
  kill -TERM "$PID" 2>/dev/null || true
  wait "$PID" 2>/dev/null || true
  rm -f "$LOG"
}
trap cleanup EXIT

echo "== waiting for the emulator (at most 30 s)"
BASE=""
for _ in $(seq 1 300); do
  BASE="$(sed -n 's/^convcheck emulator listening on //p' "$LOG")"
  [ -n "$BASE" ] && break
  if ! kill -0 "$PID" 2>/dev/null; then
    echo "the emulator exited early:" >&2
    cat "$LOG" >&2
    exit 1
  fi
  sleep 0.1
done
if [ -z "$BASE" ]; then
  echo "the emulator did not start listening within 30 s:" >&2
  cat "$LOG" >&2
  exit 1
fi
echo "emulator at $BASE"

export CONVCHECK_BASE_URL="$BASE"
export CONVCHECK_ACCOUNT_SID="$ACCOUNT"
export CONVCHECK_AUTH_TOKEN="$TOKEN"
export CONVCHECK_SERVICE_SID="$SERVICE"

status=0
echo "== python: twilio $("$VENV/bin/python" -c 'import twilio; print(twilio.__version__)')"
"$VENV/bin/python" "$CLIENTS/python_client.py" </dev/null || status=1
echo "== node: twilio $(node -p 'require(process.argv[1]).version' "$CLIENTS/node_modules/twilio/package.json")"
node "$CLIENTS/node_client.js" </dev/null || status=1

echo "== convcheck run against the emulator in another process"
"$BIN" run --target "$BASE" --account-sid "$ACCOUNT" --auth-token "$TOKEN" \
  --service-sid "$SERVICE" --format terse </dev/null || status=1

if [ "$status" -ne 0 ]; then
  echo "== emulator log" >&2
  cat "$LOG" >&2
fi
exit "$status"
