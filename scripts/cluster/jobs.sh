#!/usr/bin/env bash
# The jobs of `cargo xtask reproduce` for a profile, one "EXPERIMENT SEED" per line:
# `full` runs Sparling on seeds 0, 1 and 2 and every ablation and baseline on seed 0; `default`
# and `quick` run Sparling on seed 0.
#
# Usage: jobs.sh PROFILE   (SPARLING: the sparling binary, default `sparling` on PATH)
set -euo pipefail
profile=${1:?usage: $0 PROFILE}
sparling=${SPARLING:-sparling}
if [ "$profile" = full ]; then
    for seed in 0 1 2; do echo "sparling $seed"; done
    "$sparling" preset --list | tail -n +2 | grep -v -- '--from' | cut -f1 | sed 's/$/ 0/'
else
    echo "sparling 0"
fi
