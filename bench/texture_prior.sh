#!/usr/bin/env bash
# The prior on small texture sets (issue 13): generated textures written as an MVTec-style category
# (`nativevq demo --export`), one VQ-VAE at SIZE px, then `train prior` with each setting below on a copy of
# that run, then `eval` with restorations (pixel maps). Prints one row per setting: training / held-out NLL per
# code, gap, image AUROC, pixel AUROC and AUPRO per defect, expected / measured false-positive rate, seconds.
# Usage: bench/texture_prior.sh [setting...]   (default: every setting below)
# Env: TEXTURE (gravel; or stripes), IMAGES (200 normal images, calibration included), TESTS (120 test images,
#      half with scratches or spots), SIZE (64), VQ_EPOCHS (150: 100 training images make 4 steps an epoch),
#      OUT (runs/texture_prior), LIMIT (0 = all test images), NVQ (command that runs the CLI)
set -euo pipefail
cd "$(dirname "$0")/.."
TEXTURE=${TEXTURE:-gravel}
IMAGES=${IMAGES:-200}
TESTS=${TESTS:-120}
SIZE=${SIZE:-64}
VQ_EPOCHS=${VQ_EPOCHS:-150}
OUT=${OUT:-runs/texture_prior}
LIMIT=${LIMIT:-0}
declare -A setting=(
  [default]=""
  [seeds]="--recipe seeds"
  [augment]="--augment-copies 4"
  [augment+keep-best]="--augment-copies 4 --keep-best true"
  [regularised]="--augment-copies 4 --keep-best true --prior-dropout 0.1 --weight-decay 0.01 --schedule cosine"
  [channels64]="--prior-channels 64"
  # The small prior of docs/results.md's table (fast enough for a loaded machine).
  [small]="--prior-channels 32 --prior-blocks 1 --prior-res-blocks 1 --keep-best true"
  [small+augment]="--prior-channels 32 --prior-blocks 1 --prior-res-blocks 1 --keep-best true --augment-copies 4"
  [small-100]="--prior-channels 32 --prior-blocks 1 --prior-res-blocks 1 --keep-best true --epochs 100"
  [small-100-last]="--prior-channels 32 --prior-blocks 1 --prior-res-blocks 1 --keep-best false --epochs 100"
)
names=("$@")
[ ${#names[@]} -eq 0 ] && names=(default augment+keep-best regularised channels64)
if [ -z "${NVQ:-}" ]; then
  dotnet build src/NativeVq.Cli -c Release -v q -nologo >/dev/null
  NVQ="dotnet run -c Release --no-build --project src/NativeVq.Cli --"
fi
mkdir -p "$OUT"
data="$OUT/$TEXTURE$SIZE"
[ -d "$data" ] || $NVQ demo --export "$data" --texture "$TEXTURE" --images "$IMAGES" --test-images "$TESTS" --export-size "$SIZE"
vq="$OUT/vq_$TEXTURE$SIZE"
[ -f "$vq/vqvae.nvq" ] || $NVQ train vqvae --data "$data" --size "$SIZE" --out "$vq" --epochs "$VQ_EPOCHS" --device cpu --quiet > "$OUT/vq_$TEXTURE$SIZE.log" 2>&1
printf "setting\ttrain_nll\theld_out_nll\tgap\tkept\timage_auroc\tpixel_auroc\taupro\tper_defect\tfpr\tprior_s\teval_s\n" > "$OUT/rows.tsv"
for name in "${names[@]}"; do
  run="$OUT/$TEXTURE$SIZE-$name"
  rm -rf "$run"; cp -r "$vq" "$run"
  s=$(date +%s)
  # shellcheck disable=SC2086
  $NVQ train prior --vqvae "$run" --data "$data" --size "$SIZE" --device cpu --quiet ${setting[$name]} > "$run/prior.log" 2>&1 || echo "prior $name failed: $(tail -1 "$run/prior.log")" >&2
  p=$(( $(date +%s) - s )); s=$(date +%s)
  $NVQ eval --model "$run" --data "$data" --out "$run/report" --limit "$LIMIT" --device cpu > "$run/eval.txt" 2>&1 || echo "eval $name failed: $(tail -1 "$run/eval.txt")" >&2
  e=$(( $(date +%s) - s ))
  nll=$(grep -oE 'training [0-9.]+ nats, held-out [0-9.]+ nats \([-+0-9.]+ %\); kept epoch [0-9]+ of [0-9]+' "$run/prior.log" | awk '{print $2 "\t" $5 "\t" $7 "\t" $11 "/" $13}' | tr -d '(')
  img=$(grep -oE '^image AUROC [0-9.]+' "$run/eval.txt" | awk '{print $3}')
  pix=$(grep -oE '^pixel AUROC [0-9.]+  AUPRO@0.3 [0-9.]+' "$run/eval.txt" | awk '{print $3 "\t" $5}')
  per=$(grep -E '^  (scratch|spot) ' "$run/eval.txt" | awk '{printf "%s img %s pix %s aupro %s; ", $1, $4, $7, $9}')
  fpr=$(grep -oE 'expected [0-9.]+, measured [0-9.]+' "$run/eval.txt" | awk '{print $2 "/" $4}' | tr -d ',')
  printf "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n" "$name" "$nll" "$img" "$pix" "$per" "$fpr" "$p" "$e" >> "$OUT/rows.tsv"
done
cat "$OUT/rows.tsv"
