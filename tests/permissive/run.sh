#!/usr/bin/env bash
# Precision against the most permissive correct server we can justify: server.py (Python,
# standard library only, written from the documentation page and the facts file without
# convcheck's code; NOTES.md says how and justifies each liberty). It looks users up and then
# acts without a lock around both, lists from a replica that lags up to 500 ms, answers about
# one request in 25 with 429, pages with opaque tokens, and more. `convcheck run` with its
# default flags, from the repository root (shipped snapshots verified), must pass it for
# every seed of 1..20 (the run's `--seed` and the server's), four runs at a time, every other
# one with one default role shared by every service.
#
# One liberty is left off: `--canonical-urls` (service-scoped `url` and page URLs for a
# request in the shortened form). convcheck holds `url` to the URL form the request used, as
# every example of the documentation does (`user.url.self`); see NOTES.md.
#
#   tests/permissive/run.sh [FIRST_SEED [LAST_SEED]]
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$ROOT"
# shellcheck source=../../scripts/emulator.sh
. "$ROOT/scripts/emulator.sh"
build_convcheck

# The server takes its liberties: the self-test shows each one happening (two deletes of one
# user both acknowledged, a list that misses a write and then shows it, 429s, tokens).
python3 "$ROOT/tests/permissive/smoke.py"

FIRST="${1:-1}"
LAST="${2:-20}"
ACCOUNT="AC0123456789abcdef0123456789abcdef"
TOKEN="run-$(od -An -N8 -tx1 /dev/urandom | tr -d ' \n')"
DEFAULT="IS11111111111111111111111111111111"
OTHER="IS22222222222222222222222222222222"
OUT="$(mktemp -d)"
stop_all() {
  for f in "$OUT"/*.pid; do
    [ -f "$f" ] || continue
    kill "$(cat "$f")" 2>/dev/null || true
  done
}
trap 'stop_all; wait; rm -rf "$OUT"' EXIT

# One seed: its own server and its own run, the output in $OUT/<seed>.run.out.
one() {
  local seed="$1" extra=() spid url="" rc=0
  [ $((seed % 2)) -eq 0 ] && extra=(--shared-default-role)
  python3 "$ROOT/tests/permissive/server.py" --port 0 --account-sid "$ACCOUNT" \
    --auth-token "$TOKEN" --services "$DEFAULT,$OTHER" --seed "$seed" --no-canonical-urls \
    "${extra[@]}" >"$OUT/$seed.server.out" 2>"$OUT/$seed.server.err" </dev/null &
  spid=$!
  echo "$spid" >"$OUT/$seed.pid"
  for _ in $(seq 1 300); do
    url="$(sed -n 's/^listening on //p' "$OUT/$seed.server.out")"
    [ -n "$url" ] && break
    kill -0 "$spid" 2>/dev/null || break
    sleep 0.1
  done
  if [ -z "$url" ]; then
    { echo "the permissive server did not start (seed $seed):"; cat "$OUT/$seed.server.err"; } >"$OUT/$seed.run.out"
    rc=1
  else
    "$BIN" run --target "$url" --account-sid "$ACCOUNT" --auth-token "$TOKEN" \
      --default-service-sid "$DEFAULT" --service-sid "$OTHER" --seed "$seed" \
      </dev/null >"$OUT/$seed.run.out" 2>&1 || rc=$?
  fi
  kill "$spid" 2>/dev/null || true
  wait "$spid" 2>/dev/null || true
  rm -f "$OUT/$seed.pid"
  return "$rc"
}

# Four runs at a time: a run spends about half its time waiting for lists that lag and
# answers the server holds back, so two cores serve four.
AT_ONCE=4
status=0
seed="$FIRST"
while [ "$seed" -le "$LAST" ]; do
  pids=()
  seeds=()
  for s in $(seq "$seed" $((seed + AT_ONCE - 1))); do
    [ "$s" -le "$LAST" ] || continue
    one "$s" &
    pids+=($!)
    seeds+=("$s")
  done
  for i in "${!pids[@]}"; do
    s="${seeds[$i]}"
    if wait "${pids[$i]}"; then
      echo "seed $s: $(grep -m1 '^convcheck: [0-9]' "$OUT/$s.run.out")"
      grep -m1 '^waits: ' "$OUT/$s.run.out" | sed 's/^/  /' || true
    else
      echo "convcheck failed the permissive server (seed $s):" >&2
      cat "$OUT/$s.run.out" >&2
      status=1
    fi
  done
  seed=$((seed + AT_ONCE))
done
exit "$status"
