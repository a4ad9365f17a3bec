#!/usr/bin/env bash
# The crate as crates.io would get it: no OpenSSL in the dependency graph, `cargo package`,
# a look at what the package holds, then `convcheck run` built from the unpacked package on
# its own and run outside the repository, so a file the binary needs but the package lacks
# (an include_str! of a file left out) fails here rather than for `cargo install`. That build
# is the verification `cargo package` would do (so it runs with --no-verify: the same
# sources built twice cost a minute and a half here), at opt-level 0 (what is checked is
# that it builds and runs, not how fast).
# The build shares the repository's target directory, so the dependencies are not built again.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$ROOT"
TARGET="${CARGO_TARGET_DIR:-$ROOT/target}"

echo "== no OpenSSL on any platform"
# TLS is rustls: the binary must run on a machine without libssl, so openssl-sys must not be
# in the dependency graph for any target (cargo tree fails when the package is absent).
if out="$(cargo tree --locked --target all -e features -i openssl-sys 2>&1)"; then
  echo "$out" | head -n 20 >&2
  echo "openssl-sys is a dependency again (above): keep reqwest on rustls" >&2
  exit 1
fi
grep -q "did not match any packages" <<<"$out" || { echo "$out" >&2; exit 1; }
echo "openssl-sys: not a dependency"

echo "== cargo package"
# --allow-dirty: the test packages the working tree as it is, committed or not.
VERSION="$(sed -n 's/^version = "\(.*\)"/\1/p' Cargo.toml | head -n 1)"
CRATE="$TARGET/package/convcheck-$VERSION.crate"
rm -f "$CRATE"
# The tests and the example are left out of the package on purpose: drop those warnings.
LOG="$(mktemp)"
cargo package --allow-dirty --locked --quiet --no-verify >"$LOG" 2>&1 || { cat "$LOG" >&2; exit 1; }
grep -v "^warning: ignoring \(test\|example\)" "$LOG" || true
[ -f "$CRATE" ] || { echo "no package at $CRATE" >&2; exit 1; }

echo "== what the package holds"
LIST="$(tar tzf "$CRATE" | sed "s|^convcheck-$VERSION/||")"
for want in Cargo.toml Cargo.lock README.md LICENSE-MIT LICENSE-APACHE src/main.rs specs/checks.json; do
  grep -qx "$want" <<<"$LIST" || { echo "the package lacks $want" >&2; exit 1; }
done
if grep -E '^(tests|snapshots|fixtures|scripts|examples|target|\.github)/' <<<"$LIST"; then
  echo "the package holds files only the repository needs (above)" >&2
  exit 1
fi
echo "$(wc -l <<<"$LIST") files, $(du -k "$CRATE" | cut -f1) KiB compressed"

echo "== convcheck run, built from the unpacked package"
UNPACKED="$TARGET/package-test"
rm -rf "$UNPACKED"
mkdir -p "$UNPACKED/cwd"
tar xzf "$CRATE" -C "$UNPACKED"
# Run from an empty directory: nothing of the repository (specs/, snapshots/) is at hand.
# In the repository's target directory, where the dependencies are built already (their
# opt-level is set per package, so CARGO_PROFILE_DEV_OPT_LEVEL leaves them as they are): a
# target directory of the unpacked manifest's own would build every dependency again, about
# nine minutes here.
(cd "$UNPACKED/cwd" && CARGO_TARGET_DIR="$TARGET" CARGO_PROFILE_DEV_OPT_LEVEL=0 cargo run --quiet --locked --manifest-path "$UNPACKED/convcheck-$VERSION/Cargo.toml" \
  -- run --format terse --snapshots off </dev/null)
echo "package check: 1 passed, 0 failed"
