#!/usr/bin/env bash
# Builds the five Lambda functions for arm64 (provided.al2023) with cargo-lambda and prints each
# bootstrap zip's size. Installs cargo-lambda and its zig linker from PyPI, and the aarch64 Rust
# target, when missing. Zips land in target/lambda/<function>/bootstrap.zip.
set -euo pipefail
cd "$(dirname "$0")/../.."

functions=(create-redirection callback status-poller import-worker unsubscribe-and-stats)

if ! cargo lambda --version >/dev/null 2>&1; then
  echo "==> installing cargo-lambda and ziglang (pip)" >&2
  python3 -m pip install --quiet --disable-pip-version-check cargo-lambda ziglang
  command -v pyenv >/dev/null 2>&1 && pyenv rehash || true
fi
if ! rustup target list --installed | grep -qx aarch64-unknown-linux-gnu; then
  echo "==> adding the aarch64-unknown-linux-gnu target" >&2
  rustup target add aarch64-unknown-linux-gnu
fi

args=()
for f in "${functions[@]}"; do args+=(-p "$f"); done
cargo lambda build --release --arm64 --output-format zip "${args[@]}"

echo "function                 zip bytes"
for f in "${functions[@]}"; do
  zip="target/lambda/$f/bootstrap.zip"
  [ -f "$zip" ] || { echo "missing $zip" >&2; exit 1; }
  printf '%-24s %s\n' "$f" "$(stat -c %s "$zip")"
done
