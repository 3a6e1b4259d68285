#!/usr/bin/env bash
# Smoke test of a deployed stack: ./infra/scripts/smoke.sh STACK [REGION]
#
# Reads the stack's outputs and parameters with the aws CLI (credentials and region as usual:
# AWS_PROFILE / AWS_REGION, or REGION as the second argument), then checks, without signing
# anyone in:
#   - GET /healthz answers 200 "ok";
#   - GET /start answers 200 with the form and the security headers (CSP with
#     frame-ancestors 'none', nosniff, no-referrer, no-store, HSTS on https);
#   - GET /kontomatik-signin without an id answers a page, not a 5xx;
#   - the SSM parameters the stack names exist;
#   - the alarm topic has a confirmed subscription.
# Exits non-zero on the first failed check of the pages; the SSM and alarm checks warn.
set -euo pipefail

if [ $# -lt 1 ] || [ $# -gt 2 ]; then
  echo "usage: $0 STACK [REGION]" >&2
  exit 2
fi
stack=$1
region_args=()
if [ $# -eq 2 ]; then
  region_args=(--region "$2")
fi

failures=0
ok() { printf 'ok    %s\n' "$*"; }
fail() { printf 'FAIL  %s\n' "$*"; failures=$((failures + 1)); }
warn() { printf 'warn  %s\n' "$*"; }

output() {
  aws "${region_args[@]}" cloudformation describe-stacks --stack-name "$stack" \
    --query "Stacks[0].Outputs[?OutputKey=='$1'].OutputValue | [0]" --output text
}
parameter() {
  aws "${region_args[@]}" cloudformation describe-stacks --stack-name "$stack" \
    --query "Stacks[0].Parameters[?ParameterKey=='$1'].ParameterValue | [0]" --output text
}

start_page=$(output StartPageUrl)
if [ -z "$start_page" ] || [ "$start_page" = "None" ]; then
  echo "stack $stack has no StartPageUrl output (not deployed, or another region?)" >&2
  exit 1
fi
base=${start_page%/}
echo "stack $stack: pages at $base"

workdir=$(mktemp -d)
trap 'rm -rf "$workdir"' EXIT

# GET $1 (a path); sets $status, the headers in $workdir/headers, the body in $workdir/body.
get() {
  status=$(curl --silent --show-error --max-time 35 --output "$workdir/body" \
    --dump-header "$workdir/headers" --write-out '%{http_code}' "$base$1") || status=000
}
header() {
  grep -i "^$1:" "$workdir/headers" | head -n 1 | cut -d: -f2- | tr -d '\r' | sed 's/^ *//'
}

get /healthz
if [ "$status" = 200 ] && [ "$(cat "$workdir/body")" = ok ]; then
  ok "GET /healthz: 200 ok"
else
  fail "GET /healthz: $status $(head -c 200 "$workdir/body")"
fi

get /start
if [ "$status" = 200 ] && grep -q '<form' "$workdir/body"; then
  ok "GET /start: 200 with the form"
else
  fail "GET /start: $status $(head -c 200 "$workdir/body")"
fi
expect_header() {
  local name=$1 wanted=$2 got
  got=$(header "$name")
  case "$got" in
    *"$wanted"*) ok "$name: $got" ;;
    *) fail "$name: '$got' (wanted it to contain '$wanted')" ;;
  esac
}
expect_header content-security-policy "frame-ancestors 'none'"
expect_header x-content-type-options nosniff
expect_header referrer-policy no-referrer
expect_header cache-control no-store
case "$base" in
  https://*) expect_header strict-transport-security max-age= ;;
  *) warn "not https: no HSTS expected" ;;
esac

get /kontomatik-signin
case "$status" in
  5* | 000) fail "GET /kontomatik-signin without an id: $status" ;;
  *) ok "GET /kontomatik-signin without an id: $status (a page, no server error)" ;;
esac

for name in KontomatikApiKeyParameter LinkSigningKeyParameter StatsTokenParameter; do
  ssm_name=$(parameter "$name")
  if [ -z "$ssm_name" ] || [ "$ssm_name" = None ]; then
    continue
  fi
  if aws "${region_args[@]}" ssm describe-parameters \
    --parameter-filters "Key=Name,Values=$ssm_name" \
    --query 'Parameters[0].Name' --output text | grep -qx -- "$ssm_name"; then
    ok "SSM parameter $ssm_name ($name) exists"
  else
    warn "SSM parameter $ssm_name ($name) is missing: the functions cannot start"
  fi
done

topic=$(output AlarmTopicArn)
if [ -n "$topic" ] && [ "$topic" != None ]; then
  confirmed=$(aws "${region_args[@]}" sns list-subscriptions-by-topic --topic-arn "$topic" \
    --query "length(Subscriptions[?SubscriptionArn!='PendingConfirmation'])" --output text)
  pending=$(aws "${region_args[@]}" sns list-subscriptions-by-topic --topic-arn "$topic" \
    --query "length(Subscriptions[?SubscriptionArn=='PendingConfirmation'])" --output text)
  if [ "$confirmed" -gt 0 ]; then
    ok "alarm topic: $confirmed confirmed subscription(s)"
  else
    warn "alarm topic $topic: no confirmed subscription ($pending pending): alarms reach no one"
  fi
fi

if [ "$failures" -gt 0 ]; then
  echo "$failures check(s) failed" >&2
  exit 1
fi
echo "smoke test passed"
