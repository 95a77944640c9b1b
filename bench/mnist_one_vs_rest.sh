#!/usr/bin/env bash
# MNIST one-vs-rest protocol on tests/fixtures/mnist: for each class c, train the VQ-VAE and the prior on the
# first 80 % of class c, evaluate on the held-out 20 % of every class (c normal, the rest anomalous), and print
# the image AUROC of the sample score and of the reconstruction-error baseline, then the mean over classes.
# Usage: bench/mnist_one_vs_rest.sh [classes...]   (default 0..9)
# Env: VQ_EPOCHS (20), PRIOR_EPOCHS (30), OUT (runs/mnist), EXTRA_VQ_ARGS (e.g. "--ema"), DATA (tests/fixtures/mnist)
set -euo pipefail
cd "$(dirname "$0")/.."
DATA=${DATA:-tests/fixtures/mnist}
OUT=${OUT:-runs/mnist}
VQ_EPOCHS=${VQ_EPOCHS:-20}
PRIOR_EPOCHS=${PRIOR_EPOCHS:-30}
classes=("$@")
[ ${#classes[@]} -eq 0 ] && classes=(0 1 2 3 4 5 6 7 8 9)
dotnet build src/NativeVq.Cli -c Release -v q -nologo >/dev/null
nvq() { dotnet run -c Release --no-build --project src/NativeVq.Cli -- "$@"; }
mkdir -p "$OUT"
table="$OUT/auroc.tsv"
printf "class\tsample_score_auroc\trecon_error_auroc\tseconds\n" > "$table"
for c in "${classes[@]}"; do
  run="$OUT/class$c"
  rm -rf "$run"
  start=$(date +%s)
  nvq train vqvae --data "$DATA" --normal-class "$c" --out "$run" --epochs "$VQ_EPOCHS" --device cpu --quiet ${EXTRA_VQ_ARGS:-} >&2
  nvq train prior --vqvae "$run" --data "$DATA" --normal-class "$c" --epochs "$PRIOR_EPOCHS" --device cpu --quiet >&2
  nvq eval --model "$run" --data "$DATA" --normal-class "$c" --out "$run/report" --no-maps --device cpu > "$run/eval.txt"
  s=$(grep -oE '^image AUROC [0-9.]+' "$run/eval.txt" | awk '{print $3}')
  b=$(grep -oE 'baseline AUROC [0-9.]+' "$run/eval.txt" | awk '{print $3}')
  printf "%s\t%s\t%s\t%s\n" "$c" "$s" "$b" "$(( $(date +%s) - start ))" | tee -a "$table"
done
awk -F'\t' 'NR > 1 { s += $2; b += $3; n++ } END { if (n) printf "mean\t%.4f\t%.4f\t(%d classes)\n", s / n, b / n, n }' "$table" | tee -a "$table"
