#!/usr/bin/env bash
# Smoke test of a deployed stack: ./infra/scripts/smoke.sh STACK [REGION] [--probe]
#
# Reads the stack's outputs and parameters with the aws CLI (credentials and region as usual:
# AWS_PROFILE / AWS_REGION, or REGION as the second argument), then checks, without signing
# anyone in:
#   - GET /healthz answers 200 "ok";
#   - GET /start answers 200 with the form and the security headers (CSP with
#     frame-ancestors 'none', nosniff, no-referrer, no-store, HSTS on https);
#   - GET /kontomatik-signin without an id answers a page, not a 5xx;
#   - the SSM parameters the stack names exist;
#   - the alarm topic has a confirmed subscription;
#   - with --probe: Kontomatik's wire probe, run inside the stack (Kontomatik answers the key only
#     from the stack's whitelisted address) by a direct invocation of the unsubscribe-and-stats
#     function's `live` alias, `{"operator":"probe"}`, with the function's own key and the
#     stack's redirect URI; prints its report (the key and session secrets redacted) and fails
#     when a provisional wire name did not hold. Needs lambda:InvokeFunction on that function
#     and python3 (to print the JSON answer).
# Exits non-zero when a check of the pages (or the probe) failed; the SSM and alarm checks warn.
set -euo pipefail

usage() {
  echo "usage: $0 STACK [REGION] [--probe]" >&2
  exit 2
}
probe=false
positional=()
for arg in "$@"; do
  case "$arg" in
    --probe) probe=true ;;
    -*) usage ;;
    *) positional+=("$arg") ;;
  esac
done
if [ ${#positional[@]} -lt 1 ] || [ ${#positional[@]} -gt 2 ]; then
  usage
fi
stack=${positional[0]}
region_args=()
if [ ${#positional[@]} -eq 2 ]; then
  region_args=(--region "${positional[1]}")
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

if [ "$probe" = true ]; then
  fn=$(aws "${region_args[@]}" cloudformation describe-stack-resource --stack-name "$stack" \
    --logical-resource-id UnsubscribeAndStatsFunction \
    --query StackResourceDetail.PhysicalResourceId --output text)
  echo "probe: invoking $fn:live with {\"operator\":\"probe\"}"
  # The function's three calls to Kontomatik take at most 7 s each.
  if ! function_error=$(aws "${region_args[@]}" lambda invoke --function-name "$fn:live" \
    --cli-binary-format raw-in-base64-out --cli-read-timeout 60 \
    --payload '{"operator":"probe"}' --query FunctionError --output text \
    "$workdir/probe.json"); then
    fail "probe: could not invoke $fn:live (lambda:InvokeFunction allowed?)"
  elif [ -n "$function_error" ] && [ "$function_error" != None ]; then
    fail "probe: the function answered an error: $(head -c 500 "$workdir/probe.json")"
  else
    # The report as the probe prints it; exit 0 when every provisional name held.
    if python3 - "$workdir/probe.json" <<'PY'
import json, sys
answer = json.load(open(sys.argv[1]))
print(answer.get("report") or json.dumps(answer, indent=2))
print("(redirect URI %s, language %s, country %s)" % (
    answer.get("redirectUri"), answer.get("language"), answer.get("country")))
sys.exit(0 if answer.get("allHeld") is True else 3)
PY
    then
      ok "probe: every provisional Kontomatik wire name held (from inside the stack)"
    else
      fail "probe: a provisional wire name did not hold, or the answer was unreadable (above)"
    fi
  fi
fi

if [ "$failures" -gt 0 ]; then
  echo "$failures check(s) failed" >&2
  exit 1
fi
echo "smoke test passed"
