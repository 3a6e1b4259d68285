#!/usr/bin/env bash
# Moves the import jobs of the dead-letter queue back to the import queue (SQS's own message
# move task), once the cause of their failures is fixed.
#
#   infra/scripts/redrive.sh STACK                 # the stack's ImportDeadLetterQueueUrl → ImportQueueUrl
#   infra/scripts/redrive.sh --dlq URL --queue URL # the queues themselves
#   options: --dry-run (say what would move, move nothing), --rate N (messages per second)
#
# A redrive is pointless after the sign-in's 24 h window: the redirection is gone (Kontomatik
# forgets it, and so does the table) and a redriven job ends at once. The script reads the
# dead letters' original send times (without hiding them: visibility timeout 0) and refuses when
# every one is older than the window (purge instead: aws sqs purge-queue --queue-url DLQ). It
# warns about jobs older than an hour: the poller has ended those imports as failed (the person
# was told to sign in again), so they end as stale.
#
# REDRIVE_WINDOW_SECONDS replaces the 24 h window (tests only).
set -euo pipefail

log() { printf '==> %s\n' "$*" >&2; }
die() { printf 'redrive: %s\n' "$*" >&2; exit 1; }

stack="" dlq="" queue="" dry_run=false rate=""
while [ $# -gt 0 ]; do
  case "$1" in
    --dlq) dlq="${2:?--dlq URL}"; shift 2 ;;
    --queue) queue="${2:?--queue URL}"; shift 2 ;;
    --dry-run) dry_run=true; shift ;;
    --rate) rate="${2:?--rate N}"; shift 2 ;;
    -h|--help) sed -n '2,16p' "$0"; exit 0 ;;
    -*) die "unknown option $1" ;;
    *) [ -z "$stack" ] || die "one stack only"; stack="$1"; shift ;;
  esac
done

if [ -n "$stack" ]; then
  [ -z "$dlq$queue" ] || die "a stack, or --dlq and --queue, not both"
  output() {
    aws cloudformation describe-stacks --stack-name "$stack" \
      --query "Stacks[0].Outputs[?OutputKey=='$1'].OutputValue" --output text
  }
  dlq=$(output ImportDeadLetterQueueUrl)
  queue=$(output ImportQueueUrl)
fi
[ -n "$dlq" ] && [ "$dlq" != None ] || die "no dead-letter queue (STACK, or --dlq URL)"
[ -n "$queue" ] && [ "$queue" != None ] || die "no import queue (STACK, or --queue URL)"

arn_of() {
  aws sqs get-queue-attributes --queue-url "$1" --attribute-names QueueArn \
    --query Attributes.QueueArn --output text
}
dlq_arn=$(arn_of "$dlq")
queue_arn=$(arn_of "$queue")

waiting=$(aws sqs get-queue-attributes --queue-url "$dlq" \
  --attribute-names ApproximateNumberOfMessages \
  --query Attributes.ApproximateNumberOfMessages --output text)
if [ "${waiting:-0}" = 0 ]; then
  log "the dead-letter queue is empty: nothing to redrive"
  exit 0
fi

# The original send times of (a sample of) the dead letters, without hiding them.
window=${REDRIVE_WINDOW_SECONDS:-86400}
now_ms=$(( $(date +%s) * 1000 ))
sent=$(aws sqs receive-message --queue-url "$dlq" --max-number-of-messages 10 \
  --visibility-timeout 0 --attribute-names SentTimestamp \
  --query 'Messages[].Attributes.SentTimestamp' --output text)
live=0 stale=0 old=0
for t in $sent; do
  [ "$t" = None ] && continue
  age=$(( (now_ms - t) / 1000 ))
  if [ "$age" -ge "$window" ]; then old=$((old + 1));
  elif [ "$age" -ge 3600 ]; then stale=$((stale + 1));
  else live=$((live + 1)); fi
done
log "about ${waiting} dead letter(s); of those read: ${live} within the hour, ${stale} older, ${old} past the window"
if [ $((live + stale)) = 0 ] && [ "$old" -gt 0 ]; then
  die "every job read is past the ${window} s window: their redirections are gone, a redrive is pointless (purge instead: aws sqs purge-queue --queue-url $dlq)"
fi
if [ "$stale" -gt 0 ]; then
  log "jobs older than an hour end as stale (the poller has ended their imports as failed)"
fi

if $dry_run; then
  log "dry run: would move ${dlq_arn} → ${queue_arn}"
  exit 0
fi
args=(--source-arn "$dlq_arn" --destination-arn "$queue_arn")
[ -z "$rate" ] || args+=(--max-number-of-messages-per-second "$rate")
task=$(aws sqs start-message-move-task "${args[@]}" --query TaskHandle --output text)
log "move task ${task} started: ${dlq_arn} → ${queue_arn}"

for _ in $(seq 1 120); do
  status=$(aws sqs list-message-move-tasks --source-arn "$dlq_arn" --max-results 1 \
    --query 'Results[0].[Status,ApproximateNumberOfMessagesMoved,FailureReason]' --output text)
  case "$status" in
    COMPLETED*) log "done: $status"; exit 0 ;;
    FAILED*|CANCELLED*) die "the move task ended: $status" ;;
  esac
  sleep 5
done
log "the move task is still running after 10 minutes: aws sqs list-message-move-tasks --source-arn $dlq_arn"
