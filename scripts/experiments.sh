#!/usr/bin/env bash
# The paper's experiments, every model on the same episode budget, then one evaluation.
#
#   EPISODES=600 RANDOM_TREES=4 JOBS=2 OUT=/work/runs/sweep bash scripts/experiments.sh
#
# Trains (in parallel, JOBS at a time, each with CPU threads = cores / JOBS):
#   flat      the flat prototypical baseline (leaf loss only)
#   hier-a1   hierarchical, alpha 1, height 1 (the paper's best)
#   equal     the paper's "flat" variant: every level weighted alike (alpha 0), height 1
#   hier-a0.5, hier-a2    the alpha sweep
#   hier-h2   height 2 (families and Hornbostel-Sachs classes), alpha 1
#   random-N  hierarchical alpha 1 on a random tree of the same shape (seed N)
# then `sampletree evaluate` of all of them on the same test episodes into $OUT/eval.
# Runs resume where they stopped; extra arguments go to every `sampletree train`;
# CORPUS=DIR picks the corpus for both (default: the cache folder).
set -euo pipefail
cd "$(dirname "$0")/.."
EPISODES="${EPISODES:-2000}"
RANDOM_TREES="${RANDOM_TREES:-10}"
JOBS="${JOBS:-2}"
OUT="${OUT:-runs/experiments}"
QUERY="${QUERY:-12}"
cores="$(nproc)"
threads=$(( cores / JOBS > 0 ? cores / JOBS : 1 ))
sampletree="${SAMPLETREE:-sampletree}"
corpus_arg=""
[ -n "${CORPUS:-}" ] && corpus_arg="--corpus $CORPUS"

runs=(
  "flat --loss flat"
  "hier-a1 --loss hier --alpha 1 --height 1"
  "equal --loss equal --height 1"
  "hier-a0.5 --loss hier --alpha 0.5 --height 1"
  "hier-a2 --loss hier --alpha 2 --height 1"
  "hier-h2 --loss hier --alpha 1 --height 2"
)
for ((s = 1; s <= RANDOM_TREES; s++)); do
  runs+=("random-$s --loss hier --alpha 1 --height 1 --random-tree $s")
done
mkdir -p "$OUT"
printf '%s\n' "${runs[@]}" | xargs -P "$JOBS" -I{} bash -c '
  set -- {}; name=$1; shift
  '"$sampletree"' train --out "'"$OUT"'/$name" --episodes '"$EPISODES"' --query '"$QUERY"' \
    --threads '"$threads"' '"$corpus_arg"' "$@" '"$*"' > "'"$OUT"'/$name.log" 2>&1 \
    && echo "trained $name" || { echo "FAILED $name (see '"$OUT"'/$name.log)"; exit 1; }'
models=()
for r in "${runs[@]}"; do name="${r%% *}"; models+=("$name=$OUT/$name/model.pt"); done
$sampletree evaluate "${models[@]}" $corpus_arg --out "$OUT/eval" ${EVAL_ARGS:-}
