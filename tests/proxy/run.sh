#!/usr/bin/env bash
# `convcheck proxy` judging an application's traffic, in its wrapped-command form, in front of
# `convcheck serve`: the official helper libraries (twilio on PyPI and on npm) run
# tests/proxy/traffic.{py,js} through it.
#   - the faithful emulator, and the emulator with every freedom on: no finding at all;
#   - each fault in REACHABLE (what that traffic exercises): found (a finding; exit 1 when
#     one is a MUST);
#   - the command's failure is the proxy's exit status; no request at all is a usage error;
#   - `--idle` and SIGTERM end a session with its reports; `--snapshots record` writes the
#     normalized traffic; no output holds the auth token.
# Works from a fresh clone, without stdin, with CI=true. Every server is stopped.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$ROOT"
HERE="$ROOT/tests/proxy"
# shellcheck source=../../scripts/emulator.sh
. "$ROOT/scripts/emulator.sh"

echo "== installing the helper libraries"
venv_install "$ROOT/tests/clients/requirements.txt"
npm_install "$ROOT/tests/clients"
echo "== building convcheck"
build_convcheck

ACCOUNT="ACc0ffee00c0ffee00c0ffee00c0ffee00"
SERVICE="IS00000000000000000000000000000002"
TOKEN="run-$(od -An -N8 -tx1 /dev/urandom | tr -d ' \n')"
export CONVCHECK_ACCOUNT_SID="$ACCOUNT" CONVCHECK_AUTH_TOKEN="$TOKEN" CONVCHECK_SERVICE_SID="$SERVICE"
OUT="$ROOT/target/proxy-test"
rm -rf "$OUT"
mkdir -p "$OUT"
PY=("$VENV/bin/python" "$HERE/traffic.py")
JS=(node "$HERE/traffic.js")

# The faults that traffic exercises (measured: each was found through both libraries), and
# the client that runs it for each (the two take turns: each fault runs once, and both
# libraries meet faults). The others need traffic an application does not send (invalid
# input, no credentials, races, collections of hundreds of users, the default service's own
# form), or they change nothing a session can see (a PageSize clamped, not refused).
REACHABLE=(
  create-200 update-201 delete-200-body sid-lowercase-prefix sid-short attributes-object
  attributes-default-null online-in-read notifiable-missing friendly-name-empty dates-rfc2822
  updated-before-created created-moves relative-url url-always-shortened links-wrong
  chat-service-default account-sid-wrong identity-lookup-unsupported identity-case-folded
  identity-plus-as-space identity-latin1 duplicate-identity-accepted attributes-unvalidated
  page-size-default-20 meta-key-wrong next-on-last-page next-missing page-repeated
  user-skipped page-size-not-echoed previous-on-first-page meta-foreign-host
  delete-ineffective update-ignored update-clears-unspecified error-plain-text
  error-status-mismatch not-found-code-wrong content-type-text-plain services-not-isolated
  service-sid-lowercase-prefix role-sid-short online-in-write online-when-unreachable
  notifiable-in-read notifiable-when-unreachable friendly-name-dropped-on-create fetch-201
  read-duplicate page-not-echoed identity-nfc identity-trimmed identity-truncated
  friendly-name-markup-escaped attributes-float32 attributes-big-int-rounded recreate-conflict
  lookup-prefix-match update-cross-service delete-cross-service page-cache-stale
  delete-prefix-cascade sid-reused-after-recreate friendly-name-numeric-affinity
  friendly-name-null-literal attributes-exponent-overflow attributes-decimal-truncated
  lookup-like-wildcards lookup-regex lookup-nfkc-folded
)

# judge NAME CLIENT SERVE-ARGS...: an emulator with SERVE-ARGS, CLIENT's traffic through the
# proxy; leaves NAME.json (the report), NAME.log and NAME.code in $OUT.
judge() {
  local name="$1" client="$2"
  shift 2
  local cmd=("${PY[@]}")
  [ "$client" = node ] && cmd=("${JS[@]}")
  (
    trap stop_emulator EXIT
    start_emulator --account-sid "$ACCOUNT" --auth-token "$TOKEN" --service "$SERVICE" "$@"
    code=0
    "$BIN" proxy --upstream "$BASE" --listen 127.0.0.1:0 --preserve-host \
      --report-json "$OUT/$name.json" --report-junit "$OUT/$name.xml" \
      --report-md "$OUT/$name.md" --report-html "$OUT/$name.html" \
      -- "${cmd[@]}" >"$OUT/$name.log" 2>&1 </dev/null || code=$?
    echo "$code" >"$OUT/$name.code"
  )
}

# At most two sessions at once (the machine has two cores).
running=0
batch() {
  "$@" &
  running=$((running + 1))
  if [ "$running" -ge 2 ]; then
    wait
    running=0
  fi
}

echo "== faithful, and every freedom, through both libraries"
batch judge faithful-python python
batch judge faithful-node node
batch judge freedoms-python python --freedom all
batch judge freedoms-node node --freedom all
echo "== ${#REACHABLE[@]} faults the traffic reaches"
i=0
for f in "${REACHABLE[@]}"; do
  client=python
  [ $((i % 2)) -eq 1 ] && client=node
  batch judge "fault-$f" "$client" --fault "$f"
  i=$((i + 1))
done
wait

status=0
fail() {
  echo "FAIL $*" >&2
  status=1
}

# judged NAME: exchanges judged, and findings (MUST, any), from the JSON report.
summary() {
  python3 - "$OUT/$1.json" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))
judged = sum(len(c["exchanges"]) for c in r["cases"])
findings = [f for c in r["cases"] for f in c["findings"]]
must = [f for f in findings if f["severity"] == "MUST"]
print(judged, len(must), len(findings), ",".join(sorted({f["check"] for f in findings})) or "-")
PY
}

for name in faithful-python faithful-node freedoms-python freedoms-node; do
  code="$(cat "$OUT/$name.code")"
  read -r judged must all checks < <(summary "$name")
  echo "$name: exit $code, $judged exchanges judged, $all findings"
  [ "$code" = 0 ] || fail "$name: exit $code"
  [ "$judged" -ge 60 ] || fail "$name: only $judged exchanges judged"
  [ "$all" = 0 ] || { fail "$name: $all findings"; cat "$OUT/$name.log" >&2; }
  # One client sending one request after another: nothing may look concurrent.
  if grep -q "overlapped in time" "$OUT/$name.log"; then
    fail "$name: sequential requests were taken for concurrent ones"
  fi
done
for f in "${REACHABLE[@]}"; do
  name="fault-$f"
  code="$(cat "$OUT/$name.code")"
  read -r judged must all checks < <(summary "$name")
  echo "$name: exit $code, $all findings, $must MUST ($checks)"
  # Found: at least one finding. It fails the session (exit 1) exactly when one is a MUST.
  want=0
  [ "$must" -gt 0 ] && want=1
  [ "$all" -gt 0 ] || { fail "$name: not found (exit $code)"; tail -n 30 "$OUT/$name.log" >&2; }
  [ "$code" = "$want" ] || fail "$name: exit $code with $must MUST findings"
done

echo "== the wrapped command's failure, and an application that bypasses the proxy"
(
  trap stop_emulator EXIT
  start_emulator --account-sid "$ACCOUNT" --auth-token "$TOKEN" --service "$SERVICE"
  code=0
  "$BIN" proxy --upstream "$BASE" --listen 127.0.0.1:0 --allow-empty -- sh -c 'exit 3' \
    >"$OUT/cmd-fails.log" 2>&1 </dev/null || code=$?
  [ "$code" = 3 ] || { echo "FAIL the command's exit 3 became $code" >&2; exit 1; }
  code=0
  "$BIN" proxy --upstream "$BASE" --listen 127.0.0.1:0 -- true \
    >"$OUT/empty.log" 2>&1 </dev/null || code=$?
  [ "$code" = 2 ] || { echo "FAIL no traffic gave exit $code, not 2" >&2; exit 1; }
  grep -q "no request to the User resource went through the proxy" "$OUT/empty.log" \
    || { echo "FAIL no message for an empty session" >&2; exit 1; }
) || status=1

# started LOG: waits for a proxy started in the background to say where it listens; sets URL.
started() {
  URL=""
  for _ in $(seq 1 100); do
    URL="$(sed -n 's/^convcheck proxy listening on \([^,]*\),.*/\1/p' "$1")"
    [ -n "$URL" ] && return 0
    sleep 0.1
  done
  echo "the proxy did not start:" >&2
  cat "$1" >&2
  return 1
}

echo "== --idle, SIGTERM, and recording"
(
  trap stop_emulator EXIT
  start_emulator --account-sid "$ACCOUNT" --auth-token "$TOKEN" --service "$SERVICE"
  "$BIN" proxy --upstream "$BASE" --listen 127.0.0.1:0 --idle 1 \
    --report-junit "$OUT/idle.xml" >"$OUT/idle.log" 2>&1 </dev/null &
  P=$!
  started "$OUT/idle.log"
  python3 - "$URL/v1/Users?PageSize=5" "$ACCOUNT" "$TOKEN" <<'PY'
import base64, sys, urllib.request
req = urllib.request.Request(sys.argv[1])
req.add_header("Authorization", "Basic " + base64.b64encode(f"{sys.argv[2]}:{sys.argv[3]}".encode()).decode())
urllib.request.urlopen(req).read()
PY
  wait "$P" || { echo "FAIL --idle: exit $?" >&2; cat "$OUT/idle.log" >&2; exit 1; }
  grep -q "1 exchange judged" "$OUT/idle.log" || { echo "FAIL --idle: no summary" >&2; exit 1; }
  [ -s "$OUT/idle.xml" ] || { echo "FAIL --idle: no JUnit report" >&2; exit 1; }

  "$BIN" proxy --upstream "$BASE" --listen 127.0.0.1:0 --preserve-host \
    --snapshots record "$OUT/recorded" --report-json "$OUT/term.json" \
    >"$OUT/term.log" 2>&1 </dev/null &
  P=$!
  started "$OUT/term.log"
  CONVCHECK_PROXY_URL="$URL" "${PY[@]}" >"$OUT/term-client.log" 2>&1
  kill -TERM "$P"
  wait "$P" || { echo "FAIL SIGTERM: exit $?" >&2; cat "$OUT/term.log" >&2; exit 1; }
  [ -s "$OUT/term.json" ] || { echo "FAIL SIGTERM: no JSON report" >&2; exit 1; }
  snap="$OUT/recorded/docs/proxy__traffic.snap"
  [ -s "$snap" ] || { echo "FAIL no recording at $snap" >&2; exit 1; }
  grep -q '<US:1>' "$snap" || { echo "FAIL the recording holds no normalized sid" >&2; exit 1; }
  grep -q '<base>' "$snap" || { echo "FAIL the recording holds the base URL" >&2; exit 1; }
) || status=1

echo "== the recording replayed by convcheck run: a faithful emulator matches it, a faulty one does not"
for fault in "" update-ignored; do
  (
    trap stop_emulator EXIT
    start_emulator --account-sid "$ACCOUNT" --auth-token "$TOKEN" --service "$SERVICE" ${fault:+--fault "$fault"}
    code=0
    "$BIN" run --target "$BASE" --account-sid "$ACCOUNT" --auth-token "$TOKEN" --service-sid "$SERVICE" \
      --snapshot-dir "$OUT/recorded" --format terse proxy::traffic \
      >"$OUT/replay-${fault:-faithful}.log" 2>&1 </dev/null || code=$?
    want=0
    [ -n "$fault" ] && want=1
    if [ "$code" != "$want" ]; then
      echo "FAIL replay against ${fault:-the faithful emulator}: exit $code, expected $want" >&2
      tail -n 30 "$OUT/replay-${fault:-faithful}.log" >&2
      exit 1
    fi
    if [ -n "$fault" ] && ! grep -q "snapshot.differs" "$OUT/replay-$fault.log"; then
      echo "FAIL replay against $fault: no difference from the recording" >&2
      exit 1
    fi
    echo "replay against ${fault:-the faithful emulator}: exit $code"
  ) || status=1
done

echo "== no output holds the auth token"
basic="$(printf '%s:%s' "$ACCOUNT" "$TOKEN" | base64 | tr -d '\n')"
if grep -rqF -e "$TOKEN" -e "$basic" "$OUT"; then
  fail "the auth token reached an output: $(grep -rlF -e "$TOKEN" -e "$basic" "$OUT" | head -3)"
fi

exit "$status"
