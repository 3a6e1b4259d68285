#!/usr/bin/env bash
# Checks template.yaml with the SAM CLI: `sam validate --lint` (the SAM transform, then cfn-lint
# on the result). Runs offline; sam only wants a region and some credentials to exist, so dummy
# ones are given to that one command. The SAM CLI lives in a virtualenv under target/ (created,
# quietly, when missing).
set -euo pipefail
cd "$(dirname "$0")/../.."

venv=target/sam-venv
if [ ! -x "$venv/bin/sam" ]; then
  echo "==> installing the SAM CLI into $venv (pip)" >&2
  python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet --disable-pip-version-check aws-sam-cli
fi

SAM_CLI_TELEMETRY=0 AWS_ACCESS_KEY_ID=x AWS_SECRET_ACCESS_KEY=x AWS_DEFAULT_REGION=eu-central-1 \
  "$venv/bin/sam" validate --lint --template template.yaml --region eu-central-1
