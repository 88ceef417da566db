#!/bin/sh
# score-array.sh: score a hospital archive on a Slurm cluster as an array job.
#
#   split -n l/64 -d -a 3 --additional-suffix=.tsv <(tail -n +2 pool.tsv) shard.   # 64 shards
#   sbatch --array=0-63 examples/slurm/score-array.sh MODEL SHARD_DIR OUT_DIR
#
# Each task scores one shard (a bare or headed list) and writes its own
# scores and features; li-mine takes the shards' feature files as they are:
#   li-mine knn --query fp.npy $(for i in $(seq -w 0 63); do
#       printf -- '--pool OUT/shard.%03d.npy --pool-list OUT/shard.%03d.tsv ' $i $i; done) ...
#
#SBATCH --job-name=li-score
#SBATCH --cpus-per-task=8
#SBATCH --mem=8G
#SBATCH --time=04:00:00
set -eu
model=$1 shards=$2 out=$3
i=$(printf '%03d' "${SLURM_ARRAY_TASK_ID:?not running as a Slurm array task}")
mkdir -p "$out"
# Outputs are written atomically, so a re-queued task never leaves half a shard.
li-score --threads "${SLURM_CPUS_PER_TASK:-1}" -m "$model" \
	--features "$out/shard.$i.npy" -o "$out/shard.$i.tsv" "$shards/shard.$i.tsv"
