#!/bin/sh
# score-array.sh: score a hospital archive on a Slurm cluster as an array job.
#
# Cut the pool list into shards of 100,000 rows that each keep the header:
#   mkdir -p shards
#   tail -n +2 pool.tsv | split -l 100000 -d -a 3 --additional-suffix=.tsv \
#       --filter='{ head -n 1 pool.tsv; cat; } > "$FILE"' - shards/shard.
#   n=$(ls shards | wc -l)
#   sbatch --array=0-$((n - 1)) examples/slurm/score-array.sh MODEL shards out
#
# Each task scores one shard and writes its scores and features; li-mine takes
# the shards' feature files as they are, each with its scored list:
#   li-mine knn --query fp.npy -k 20 $(for f in out/shard.*.npy; do
#       printf -- '--pool %s --pool-list %s ' "$f" "${f%.npy}.tsv"; done) > mined.tsv
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
