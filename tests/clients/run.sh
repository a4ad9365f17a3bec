#!/usr/bin/env bash
# Runs the official Twilio helper libraries, unmodified, against `convcheck serve`:
# twilio on PyPI (9.x, in a venv under target/clients-venv) and twilio on npm (6.x, in
# tests/clients/node_modules). Works from a fresh clone, without stdin, with CI=true.
# The server is always stopped, whatever happens.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$ROOT"
CLIENTS="$ROOT/tests/clients"
# shellcheck source=../../scripts/emulator.sh
. "$ROOT/scripts/emulator.sh"

echo "== installing the helper libraries"
venv_install "$CLIENTS/requirements.txt"
npm_install "$CLIENTS"

echo "== building convcheck"
build_convcheck

# Fixed account and per-run token, passed as flags so an outer TWILIO_* environment
# cannot change what the server accepts.
ACCOUNT="ACc0ffee00c0ffee00c0ffee00c0ffee00"
SERVICE="IS00000000000000000000000000000002"
TOKEN="run-$(od -An -N8 -tx1 /dev/urandom | tr -d ' \n')"

trap stop_emulator EXIT
echo "== waiting for the emulator (at most 30 s)"
start_emulator --account-sid "$ACCOUNT" --auth-token "$TOKEN" --service "$SERVICE"
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
