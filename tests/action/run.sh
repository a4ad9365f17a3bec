#!/usr/bin/env bash
# Runs the composite action (action.yml) locally, its `run:` steps through run_steps.py, with
# the runner's variables faked (GITHUB_OUTPUT, GITHUB_STEP_SUMMARY, GITHUB_ACTION_PATH,
# RUNNER_TEMP, RUNNER_OS, RUNNER_ARCH), against `convcheck serve` in another process:
#   release   a release served from a local directory (python -m http.server): the binary is
#             downloaded, checked against SHA256SUMS and run; the reports are written
#   tampered  SHA256SUMS does not match: the archive is refused, the source build takes over
#   offline   the releases URL does not answer: the source build takes over
#   given     the convcheck-bin input: no download, no build
# The source build is a fake `cargo` on PATH that records its arguments and installs the
# debug binary, so the test checks what the action asks of cargo without a release build.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$ROOT"
HERE="$ROOT/tests/action"
WORK="$ROOT/target/action"
# shellcheck source=../../scripts/emulator.sh
. "$ROOT/scripts/emulator.sh"

echo "== installing PyYAML, building convcheck"
venv_install "$HERE/requirements.txt"
build_convcheck

ACCOUNT="ACc0ffee00c0ffee00c0ffee00c0ffee00"
TOKEN="run-$(od -An -N8 -tx1 /dev/urandom | tr -d ' \n')"
HTTP_PID=""
cleanup() {
  stop_emulator
  [ -z "$HTTP_PID" ] || { kill "$HTTP_PID" 2>/dev/null || true; wait "$HTTP_PID" 2>/dev/null || true; }
}
trap cleanup EXIT
start_emulator --account-sid "$ACCOUNT" --auth-token "$TOKEN"
echo "emulator at $BASE"

case "$(uname -m)" in
  x86_64) ARCH=X64 TARGET=x86_64-unknown-linux-gnu ;;
  aarch64 | arm64) ARCH=ARM64 TARGET=aarch64-unknown-linux-gnu ;;
  *) echo "no release target for $(uname -m)" >&2; exit 1 ;;
esac
VERSION="v$(sed -n 's/^version = "\(.*\)"/\1/p' Cargo.toml | head -n 1)"

rm -rf "$WORK"
mkdir -p "$WORK/fake-bin"
# A release as .github/workflows/release.yml lays it out, and one whose SHA256SUMS lies.
make_release() { # DIR SUMS-MODE
  local dir="$1/download/$VERSION" name="convcheck-$VERSION-$TARGET"
  mkdir -p "$dir/$name"
  cp "$BIN" README.md LICENSE-MIT LICENSE-APACHE "$dir/$name/"
  # gzip -1: the debug binary is large, and the test is about the layout, not the ratio.
  tar -I "gzip -1" -cf "$dir/$name.tar.gz" -C "$dir" "$name"
  rm -r "${dir:?}/$name"
  (cd "$dir" && sha256sum "$name.tar.gz" > SHA256SUMS)
  if [ "$2" = tampered ]; then
    sed -i 's/^./0/; s/^0\(.\)/f\1/' "$dir/SHA256SUMS"
  fi
}
make_release "$WORK/www/good" good
make_release "$WORK/www/tampered" tampered
PORT="$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')"
python3 -m http.server --bind 127.0.0.1 --directory "$WORK/www" "$PORT" >"$WORK/http.log" 2>&1 </dev/null &
HTTP_PID=$!
for _ in $(seq 1 100); do
  curl -s -o /dev/null "http://127.0.0.1:$PORT/" && break
  sleep 0.1
done

# The fake cargo: `cargo install … --root DIR` puts the debug binary in DIR/bin.
cat >"$WORK/fake-bin/cargo" <<FAKE
#!/usr/bin/env bash
echo "\$*" >> "$WORK/cargo-calls"
root=""
while [ \$# -gt 0 ]; do [ "\$1" = --root ] && root="\$2"; shift; done
mkdir -p "\$root/bin" && cp "$BIN" "\$root/bin/convcheck"
FAKE
chmod +x "$WORK/fake-bin/cargo"

failures=0
scenario() { # NAME INPUTS-JSON-EXTRA
  local name="$1" dir="$WORK/$1"
  mkdir -p "$dir/temp" "$dir/workspace"
  : >"$dir/summary.md"
  local inputs
  inputs="$(python3 -c 'import json,sys; d={"target":sys.argv[1],"account-sid":sys.argv[2],"auth-token":sys.argv[3]}; d.update(json.loads(sys.argv[4])); print(json.dumps(d))' \
    "$BASE" "$ACCOUNT" "$TOKEN" "$2")"
  echo "== $name"
  set +e
  (cd "$dir/workspace" && env PATH="$WORK/fake-bin:$PATH" RUNNER_OS=Linux RUNNER_ARCH="$ARCH" \
    RUNNER_TEMP="$dir/temp" GITHUB_ACTION_PATH="$ROOT" GITHUB_ACTION_REF="${ACTION_REF:-}" \
    GITHUB_STEP_SUMMARY="$dir/summary.md" \
    "$VENV/bin/python" "$HERE/run_steps.py" "$ROOT/action.yml" "$inputs" "$dir/outputs" \
    </dev/null >"$dir/log" 2>&1)
  local code=$?
  set -e
  LOG_OF="$dir/log"
  sed 's/^/    /' "$dir/log" | grep -E "run_steps|convcheck:|: OK|FAILED" || true
  expect "$code" = 0 "the action exits 0"
  expect_grep "^exit-code=0$" "$dir/outputs" "the exit-code output is 0"
  expect_grep "^report-dir=convcheck-reports$" "$dir/outputs" "the report-dir output names the directory"
  for f in report.json report.xml report.md report.html; do
    expect_file "$dir/workspace/convcheck-reports/$f"
  done
  [ -s "$dir/summary.md" ] || fail "the step summary is empty"
}
fail() { echo "  FAIL ($CURRENT): $1" >&2; failures=$((failures + 1)); }
expect() { [ "$1" "$2" "$3" ] || fail "$4 (got $1)"; }
expect_grep() { grep -qE "$1" "$2" || fail "$3"; }
expect_file() { [ -s "$1" ] || fail "no $(basename "$1")"; }

CURRENT=release ACTION_REF="$VERSION"
rm -f "$WORK/cargo-calls"
scenario release "{\"releases-url\": \"http://127.0.0.1:$PORT/good\"}"
expect_grep "checking the SHA-256 of convcheck-$VERSION-$TARGET.tar.gz" "$LOG_OF" "the log says it checks the SHA-256"
expect_grep "installed $VERSION \($TARGET\)" "$LOG_OF" "the log says what it installed"
expect_grep "skipped .*: Build convcheck from this action's checkout" "$LOG_OF" "no source build"
[ ! -e "$WORK/cargo-calls" ] || fail "cargo ran although a released binary fit"

CURRENT=tampered ACTION_REF=main
scenario tampered "{\"releases-url\": \"http://127.0.0.1:$PORT/tampered\", \"version\": \"$VERSION\"}"
expect_grep "does not match SHA256SUMS; building from source instead" "$LOG_OF" "the tampered archive is refused"
expect_grep "^install --locked --path $ROOT --root " "$WORK/cargo-calls" "cargo install --locked --path builds from the action's checkout"
expect_grep "not run here \(uses: actions/cache" "$LOG_OF" "the source build is cached"

CURRENT=offline
rm -f "$WORK/cargo-calls"
scenario offline '{"releases-url": "http://127.0.0.1:1/releases"}'
expect_grep "could not look up the latest release; building from source instead" "$LOG_OF" "an unreachable releases URL falls back"
expect_grep "^install --locked --path $ROOT " "$WORK/cargo-calls" "the source build ran"

CURRENT=given
rm -f "$WORK/cargo-calls"
scenario given "{\"convcheck-bin\": \"$BIN\", \"releases-url\": \"http://127.0.0.1:1/releases\"}"
expect_grep "using the binary given as convcheck-bin" "$LOG_OF" "the given binary is used"
[ ! -e "$WORK/cargo-calls" ] || fail "cargo ran although convcheck-bin was given"

if [ "$failures" -ne 0 ]; then
  echo "action check: $failures failed" >&2
  exit 1
fi
# The copies of the debug binary take hundreds of megabytes; the logs stay for a look.
rm -rf "$WORK/www" "$WORK"/*/temp
echo "action check: 4 passed, 0 failed"
