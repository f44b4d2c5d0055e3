#!/usr/bin/env bash
# Train and export the adapters of the two sample domains on the offline defaults.
#
#   scripts/train_sample_adapters.sh [extra `assistant adapters train` options, e.g. --epochs 2]
#
# Indexes the sample corpus first (RAFT examples are built from the index), then trains each domain
# on samples/training/<domain>.jsonl, keeping the sample eval set's questions out of training, and copies
# the results to samples/adapters/ in f16. On a 2-core CPU a step takes about 40 s (about 35 minutes for
# support, 30 for policy); the data home is $ASSISTANT_HOME as everywhere.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=.venv/bin
for domain in support policy; do
  "$BIN/ingest" "samples/corpus/$domain" --domain "$domain" --quiet
done
# Optimizer steps per domain (4 examples each; refusal examples are left out, see training.refusal_examples):
# one epoch of support's 211 grounded examples; policy stops at 40 steps (0.7 epoch), its earlier budget.
declare -A STEPS=([support]=53 [policy]=40)
for domain in support policy; do
  "$BIN/assistant" adapters train --domain "$domain" --data "samples/training/$domain.jsonl" \
    --eval-set samples/eval.jsonl --max-steps "${STEPS[$domain]}" "$@"
done
"$BIN/assistant" adapters list
"$BIN/python" scripts/ship_sample_adapters.py  # samples/adapters/<domain>/, which `make demo` imports
