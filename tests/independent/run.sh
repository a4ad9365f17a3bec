#!/usr/bin/env bash
# Precision against a server written independently of convcheck's code: server.py (Python,
# standard library only, written from the documentation page and the facts file; NOTES.md
# says how) must pass `convcheck run` started from the repository root with the default
# flags, so the shipped snapshots are verified and the generated cases draw a fresh seed.
# Twice, at once: each service with a default role of its own, and one default role shared
# by every service (the documentation relates neither). Both servers are always stopped.
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
# Each variant's server pid, in a file, so the trap can stop both whatever state they are in.
stop_all() {
  for f in "$OUT"/*.pid; do
    [ -f "$f" ] || continue
    kill "$(cat "$f")" 2>/dev/null || true
  done
}
trap 'stop_all; wait; rm -rf "$OUT"' EXIT

# One variant: its own server and its own run, its output in $OUT/<variant>.*. The two run
# at once (the Python server takes one core, and each run about 20 s here).
variant() {
  local name="$1" extra=() spid url="" rc=0
  [ "$name" = shared ] && extra=(--shared-default-role)
  python3 "$ROOT/tests/independent/server.py" --port 0 --account-sid "$ACCOUNT" \
    --auth-token "$TOKEN" --services "$DEFAULT,$OTHER" "${extra[@]}" \
    >"$OUT/$name.server.out" 2>"$OUT/$name.server.err" </dev/null &
  spid=$!
  echo "$spid" >"$OUT/$name.pid"
  for _ in $(seq 1 300); do
    url="$(sed -n 's/^listening on //p' "$OUT/$name.server.out")"
    [ -n "$url" ] && break
    kill -0 "$spid" 2>/dev/null || break
    sleep 0.1
  done
  if [ -z "$url" ]; then
    { echo "the independent server did not start ($name default role):"; cat "$OUT/$name.server.err"; } >"$OUT/$name.run.out"
    rc=1
  else
    echo "== convcheck run against the independent server ($name default role) at $url" >"$OUT/$name.run.out"
    "$BIN" run --target "$url" --account-sid "$ACCOUNT" --auth-token "$TOKEN" \
      --default-service-sid "$DEFAULT" --service-sid "$OTHER" </dev/null >>"$OUT/$name.run.out" 2>&1 || rc=$?
  fi
  kill "$spid" 2>/dev/null || true
  wait "$spid" 2>/dev/null || true
  rm -f "$OUT/$name.pid"
  return "$rc"
}

variant per-service &
PER=$!
variant shared &
SHARED=$!
status=0
for pair in "per-service:$PER" "shared:$SHARED"; do
  name="${pair%%:*}"
  if wait "${pair#*:}"; then
    head -n 1 "$OUT/$name.run.out"
    tail -n 4 "$OUT/$name.run.out"
  else
    echo "convcheck failed a correct server ($name default role):" >&2
    cat "$OUT/$name.run.out" >&2
    status=1
  fi
done
exit "$status"
