#!/usr/bin/env bash
# Precision against a server written independently of convcheck's code: server.py (Python,
# standard library only, written from the documentation page and the facts file; NOTES.md
# says how) must pass `convcheck run` started from the repository root with the default
# flags, so the shipped snapshots are verified and the generated cases draw a fresh seed.
# Twice: each service with a default role of its own, then one default role shared by every
# service (the documentation relates neither). The server is always stopped.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$ROOT"
# shellcheck source=../../scripts/emulator.sh
. "$ROOT/scripts/emulator.sh"
build_convcheck

ACCOUNT="AC0123456789abcdef0123456789abcdef"
TOKEN="run-$(od -An -N8 -tx1 /dev/urandom | tr -d ' \n')"
DEFAULT="IS11111111111111111111111111111111"
OTHER="IS22222222222222222222222222222222"
OUT="$(mktemp -d)"
SPID=""
stop() {
  if [ -n "$SPID" ]; then
    kill "$SPID" 2>/dev/null || true
    wait "$SPID" 2>/dev/null || true
  fi
  SPID=""
}
trap 'stop; rm -rf "$OUT"' EXIT

status=0
for variant in per-service shared; do
  extra=()
  [ "$variant" = shared ] && extra=(--shared-default-role)
  python3 "$ROOT/tests/independent/server.py" --port 0 --account-sid "$ACCOUNT" \
    --auth-token "$TOKEN" --services "$DEFAULT,$OTHER" "${extra[@]}" \
    >"$OUT/server.out" 2>"$OUT/server.err" </dev/null &
  SPID=$!
  URL=""
  for _ in $(seq 1 300); do
    URL="$(sed -n 's/^listening on //p' "$OUT/server.out")"
    [ -n "$URL" ] && break
    kill -0 "$SPID" 2>/dev/null || break
    sleep 0.1
  done
  if [ -z "$URL" ]; then
    echo "the independent server did not start:" >&2
    cat "$OUT/server.err" >&2
    exit 1
  fi
  echo "== convcheck run against the independent server ($variant default role) at $URL"
  if "$BIN" run --target "$URL" --account-sid "$ACCOUNT" --auth-token "$TOKEN" \
    --default-service-sid "$DEFAULT" --service-sid "$OTHER" </dev/null >"$OUT/run.out" 2>&1; then
    tail -n 4 "$OUT/run.out"
  else
    echo "convcheck failed a correct server ($variant default role):" >&2
    cat "$OUT/run.out" >&2
    status=1
  fi
  stop
done
exit "$status"
