#!/usr/bin/env bash
# The reports as their consumers see them. `convcheck serve` runs with faults in another
# process and `convcheck run --target` writes every report format; then
#  - junitparser (PyPI, in target/clients-venv) reads the JUnit files of that run and of the
#    sample report and must count the tests, failures, errors and skips the JSON says;
#  - the HTML must reference nothing outside itself, and headless Chromium (Debian's
#    `chromium`, installed when missing) renders it on a phone-sized window with every host
#    unresolvable and a network log, which must show no request the page started (a control
#    page that loads an image must show one); the screenshot is kept in target/reports/report.png.
# Works from a fresh clone, without stdin, with CI=true. The server is always stopped.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$ROOT"
HERE="$ROOT/tests/reports"
OUT="$ROOT/target/reports"
mkdir -p "$OUT"
# shellcheck source=../../scripts/emulator.sh
. "$ROOT/scripts/emulator.sh"

echo "== installing junitparser"
venv_install "$HERE/requirements.txt"

echo "== building convcheck"
build_convcheck

ACCOUNT="ACc0ffee00c0ffee00c0ffee00c0ffee00"
SERVICE="IS00000000000000000000000000000002"
TOKEN="run-$(od -An -N8 -tx1 /dev/urandom | tr -d ' \n')"
PROFILE="$(mktemp -d)"
cleanup() {
  stop_emulator
  rm -rf "$PROFILE"
}
trap cleanup EXIT
start_emulator --account-sid "$ACCOUNT" --auth-token "$TOKEN" --service "$SERVICE" \
  --fault sid-lowercase-prefix --fault auth-not-enforced --fault not-found-code-wrong

echo "== convcheck run against the faulty emulator at $BASE"
rm -f "$OUT"/run.*
set +e
env -u GITHUB_STEP_SUMMARY "$BIN" run --target "$BASE" --account-sid "$ACCOUNT" --auth-token "$TOKEN" \
  --service-sid "$SERVICE" --format terse --snapshots off \
  --report-json "$OUT/run.json" --report-junit "$OUT/run.xml" \
  --report-md "$OUT/run.md" --report-html "$OUT/run.html" </dev/null >"$OUT/run.log" 2>&1
code=$?
set -e
if [ "$code" -ne 1 ]; then
  echo "convcheck run exited $code, expected 1 (findings):" >&2
  cat "$OUT/run.log" >&2
  exit 1
fi
if grep -q -- "$TOKEN" "$OUT"/run.*; then
  echo "the auth token reached a report" >&2
  exit 1
fi
env -u GITHUB_STEP_SUMMARY "$BIN" report --from "$HERE/sample-report.json" --format junit --out "$OUT/sample.xml"

echo "== junitparser reads the JUnit files"
"$VENV/bin/python" "$HERE/check_junit.py" \
  "$OUT/run.json" "$OUT/run.xml" "$HERE/sample-report.json" "$OUT/sample.xml"

echo "== the HTML report references nothing outside itself"
if grep -Eion '(src|href|action)[[:space:]]*=[[:space:]]*["'"'"']?[a-z]+:|@import|url\(|<(script|link|img|iframe|object|embed)' "$OUT/run.html"; then
  echo "the HTML report loads something" >&2
  exit 1
fi

echo "== headless Chromium renders it"
if ! command -v chromium >/dev/null 2>&1; then
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq chromium >/dev/null
fi
rm -f "$OUT/report.png" "$OUT/netlog.json" "$OUT/control-netlog.json"
shoot() { # page, screenshot, network log
  local profile
  profile="$(mktemp -d -p "$PROFILE")"
  chromium --headless --no-sandbox --disable-gpu --disable-quic --no-first-run \
    --disable-background-networking --disable-component-update --disable-sync \
    --disable-default-apps --disable-extensions --no-default-browser-check \
    --host-resolver-rules="MAP * ~NOTFOUND" --log-net-log="$3" \
    --user-data-dir="$profile" --hide-scrollbars --window-size=390,2400 \
    --screenshot="$2" "file://$1" </dev/null >"$OUT/chromium.log" 2>&1 || {
    cat "$OUT/chromium.log" >&2
    exit 1
  }
}
shoot "$OUT/run.html" "$OUT/report.png" "$OUT/netlog.json"
shoot "$HERE/control.html" "$OUT/control.png" "$OUT/control-netlog.json"
"$VENV/bin/python" "$HERE/check_render.py" "$OUT/report.png" "$OUT/netlog.json" "$OUT/control-netlog.json"
