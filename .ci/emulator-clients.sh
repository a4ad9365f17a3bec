#!/usr/bin/env bash
# Fragment for .ci/run: the official Twilio helper libraries (Python 9.x, Node 6.x) against
# `convcheck serve`. Call it after the Rust tests with `bash .ci/emulator-clients.sh`; it needs
# python3 (with venv), node and npm, and reaches PyPI and the npm registry on first run.
set -euo pipefail
cd "$(dirname "$0")/.."
bash tests/clients/run.sh
