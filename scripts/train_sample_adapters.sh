#!/usr/bin/env bash
# Train and export the adapters of the two sample domains on the offline defaults.
#
#   scripts/train_sample_adapters.sh [extra `assistant adapters train` options, e.g. --epochs 2]
#
# Indexes the sample corpus first (RAFT examples are built from the index), then trains each domain
# on samples/training/<domain>.jsonl, keeping the sample eval set's questions out of training. On a 2-core
# CPU one epoch takes about half an hour per domain; the data home is $ASSISTANT_HOME as everywhere.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=.venv/bin
for domain in support policy; do
  "$BIN/ingest" "samples/corpus/$domain" --domain "$domain" --quiet
done
for domain in support policy; do
  "$BIN/assistant" adapters train --domain "$domain" --data "samples/training/$domain.jsonl" \
    --eval-set samples/eval.jsonl --epochs 1 "$@"
done
"$BIN/assistant" adapters list
