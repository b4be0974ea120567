#!/usr/bin/env bash
# A Slurm job array over the jobs of a profile: task i runs line i+1 of jobs.txt through job.sh.
#
#   scripts/cluster/jobs.sh full > jobs.txt
#   sbatch --array=0-$(( $(wc -l < jobs.txt) - 1 )) scripts/cluster/slurm-array.sh full sweep
#   # when every task has finished:
#   cargo xtask reproduce --merge sweep
#
#SBATCH --job-name=sparling
#SBATCH --cpus-per-task=2
#SBATCH --mem=8G
#SBATCH --time=16:00:00
#SBATCH --output=slurm-%A_%a.out
set -euo pipefail
profile=${1:?usage: sbatch --array=0-N slurm-array.sh PROFILE OUT}
out=${2:?usage: sbatch --array=0-N slurm-array.sh PROFILE OUT}
read -r experiment seed < <(sed -n "$((SLURM_ARRAY_TASK_ID + 1))p" jobs.txt)
export RAYON_NUM_THREADS=${SLURM_CPUS_PER_TASK:-2}
# Slurm runs a copy of this script from its spool: find job.sh from the submission directory.
exec "${SLURM_SUBMIT_DIR:-.}/scripts/cluster/job.sh" "$profile" "$experiment" "$seed" "$out"
