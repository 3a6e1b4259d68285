#!/usr/bin/env bash
# Runs every test of the workspace, the way CI does.
#
# Installs what is missing (moto server from PyPI, Debian's chromium + chromium-driver for the
# browser test), starts moto server on a free loopback port
# for the AWS adapter tests (they fail, not skip, without it), runs the whole workspace's tests
# and stops moto again. Extra arguments go to the test runner (e.g. a test name filter).
set -euo pipefail
cd "$(dirname "$0")/../.."

log() { printf '==> %s\n' "$*" >&2; }

if ! python3 -c 'import moto.server, flask' >/dev/null 2>&1; then
  log "installing moto server (pip install 'moto[server]')"
  python3 -m pip install --quiet --disable-pip-version-check 'moto[server]'
fi

if ! command -v aws >/dev/null 2>&1; then
  log "installing the AWS CLI (pip install awscli): the redrive script's test runs it"
  python3 -m pip install --quiet --disable-pip-version-check awscli
  # Under pyenv the new command appears on PATH only after a rehash.
  if command -v pyenv >/dev/null 2>&1; then pyenv rehash; fi
fi

if ! command -v chromium >/dev/null 2>&1 || ! command -v chromedriver >/dev/null 2>&1; then
  log "installing Debian's chromium and chromium-driver (the browser test)"
  sudo_if() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }
  sudo_if apt-get update -qq
  DEBIAN_FRONTEND=noninteractive sudo_if apt-get install -y -qq chromium chromium-driver >/dev/null
fi

mkdir -p target
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
log "starting moto server on 127.0.0.1:${port}"
python3 -m moto.server -H 127.0.0.1 -p "$port" >target/moto.log 2>&1 &
moto_pid=$!
trap 'kill "$moto_pid" 2>/dev/null || true; wait "$moto_pid" 2>/dev/null || true' EXIT

for _ in $(seq 1 100); do
  if python3 -c "import urllib.request,sys; urllib.request.urlopen('http://127.0.0.1:${port}/moto-api/data.json', timeout=1)" >/dev/null 2>&1; then
    break
  fi
  if ! kill -0 "$moto_pid" 2>/dev/null; then
    log "moto server exited; its log:"; cat target/moto.log >&2; exit 1
  fi
  sleep 0.2
done

export MOTO_ENDPOINT="http://127.0.0.1:${port}"
export AWS_ACCESS_KEY_ID=testing AWS_SECRET_ACCESS_KEY=testing AWS_REGION=eu-central-1
export AWS_EC2_METADATA_DISABLED=true

# The deploy rehearsal (tests/e2e/rehearsal.rs) runs the functions' own binaries; built here,
# before the tests start, its own build is a no-op instead of competing with running tests.
log "building the Lambda functions' binaries (the deploy rehearsal runs them)"
cargo build --bins -p create-redirection -p callback -p status-poller -p import-worker -p unsubscribe-and-stats

if cargo nextest --version >/dev/null 2>&1; then
  cargo nextest run --workspace --no-fail-fast "$@"
else
  cargo test --workspace --no-fail-fast "$@"
fi
