#!/usr/bin/env bash
# One job of the reproduction table: preset + train + eval of one experiment and seed into
# OUT/runs/EXPERIMENT-seedSEED, the layout `cargo xtask reproduce --merge OUT` reads.
#
# Usage: job.sh PROFILE EXPERIMENT SEED OUT
#   SPARLING    the sparling binary (default: `sparling` on PATH)
#   TRAIN_ARGS  extra arguments of `sparling train` (e.g. "--max-steps 100")
#   EVAL_ARGS   extra arguments of `sparling eval` (e.g. "--samples 2000")
#   RAYON_NUM_THREADS  threads of this job (default: all the cores it sees)
#
# Re-running a job resumes its training from the checkpoint and skips a finished evaluation.
set -euo pipefail
if [ $# -ne 4 ]; then
    echo "usage: $0 PROFILE EXPERIMENT SEED OUT" >&2
    exit 2
fi
profile=$1 experiment=$2 seed=$3 out=$4
sparling=${SPARLING:-sparling}
dir="$out/runs/$experiment-seed$seed"
mkdir -p "$dir"
if [ ! -f "$dir/config.json" ]; then
    "$sparling" preset --profile "$profile" --experiment "$experiment" --out "$dir/config.json"
fi
# shellcheck disable=SC2086 # the extra arguments are meant to be split
"$sparling" train --config "$dir/config.json" --seed "$seed" --out "$dir" --quiet ${TRAIN_ARGS:-}
if [ ! -f "$dir/eval/eval.json" ]; then
    # shellcheck disable=SC2086
    "$sparling" eval --run "$dir" --out "$dir/eval" ${EVAL_ARGS:-} > "$dir/eval.log"
fi
echo "$experiment-seed$seed: done ($dir)"
