#!/usr/bin/env bash
# A third-party target: Stoplight Prism mocking Twilio's OpenAPI description (taken from the
# npm package @twilio-alpha/mcp, never committed). convcheck run must complete against it,
# without hanging or crashing, report failures (exit 1), and explain that Prism keeps no state.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
HERE="$ROOT/tests/prism"
WORK="$ROOT/target/prism"
# shellcheck source=../../scripts/emulator.sh
. "$ROOT/scripts/emulator.sh"
mkdir -p "$WORK"

echo "== installing prism and Twilio's OpenAPI description"
npm_install "$HERE"
openapi_spec

cargo build --quiet --bin convcheck
BIN="${CARGO_TARGET_DIR:-$ROOT/target}/debug/convcheck"
PORT="$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')"
LOG="$WORK/prism.log"
"$HERE/node_modules/.bin/prism" mock -h 127.0.0.1 -p "$PORT" "$SPEC" >"$LOG" 2>&1 </dev/null &
PID=$!
trap 'kill "$PID" 2>/dev/null || true; wait "$PID" 2>/dev/null || true' EXIT

echo "== waiting for prism (at most 60 s)"
for _ in $(seq 1 600); do
  grep -q "Prism is listening" "$LOG" && break
  kill -0 "$PID" 2>/dev/null || { cat "$LOG" >&2; exit 1; }
  sleep 0.1
done
grep -q "Prism is listening" "$LOG" || { echo "prism did not start" >&2; cat "$LOG" >&2; exit 1; }

echo "== convcheck run against prism on port $PORT"
OUT="$WORK/run.txt"
set +e
timeout 300 "$BIN" run --target "http://127.0.0.1:$PORT" \
  --account-sid ACaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa --auth-token prism-accepts-any \
  --service-sid ISaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa --format terse --snapshots off \
  --report-json "$WORK/report.json" </dev/null >"$OUT" 2>&1
code=$?
set -e
tail -n 8 "$OUT"
if [ "$code" -ne 1 ]; then
  echo "expected exit 1 (findings) against prism, got $code" >&2
  exit 1
fi
grep -q "note: the target keeps no state" "$OUT" || { echo "the summary does not explain that prism keeps no state" >&2; exit 1; }
python3 -c 'import json,sys; r=json.load(open(sys.argv[1])); s=r["summary"]; assert s["failed"]>0 and s["errored"]==0, s; print("prism:", s)' "$WORK/report.json"
echo "prism check: 1 passed, 0 failed"
