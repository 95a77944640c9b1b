#!/usr/bin/env bash
# The contaminated-training study (issue 10; the central experiment of the third source paper): MNIST one-vs-rest on
# tests/fixtures/mnist, each method trained on the first 80 % of the normal class with a fraction P of those images
# replaced by other digits (`--contamination P`, seeded), evaluated on the held-out 20 % of every class. Prints one
# table: mean image AUROC over the classes per method and P, the drop from P = 0, and wall time (train + eval, summed
# over classes); writes it as $OUT/study.json (every run's AUROC too) and $OUT/study.tsv.
#
# Methods (METHODS, default "vqvae vae gan"):
#   vqvae  VQ-VAE + PixelSNAIL prior, our default image score under --no-maps
#   vae    VAE, reconstruction error (eval's default for VAE runs) and the negative ELBO
#   gan    GAN + encoder trained together: ||E(x)|| (encoder-norm, the paper's score) and reconstruction ||x - G(E(x))||
#          (skipped with a note when this build has no `train gan`)
#
# Usage: bench/contamination_study.sh [reduced|full]
#   reduced (default): classes 3 and 7, short training (VQ-VAE 10, prior 15, VAE 15, GAN 15 epochs); designed to
#                      finish in under 20 minutes on a quiet 2-core machine
#   full:              classes 0-9 with the bench defaults (VQ-VAE 20, prior 30, VAE 30, GAN 30 epochs)
# Env overrides: CLASSES ("3 7"), P_LIST ("0 0.05 0.10"), VQ_EPOCHS, PRIOR_EPOCHS, VAE_EPOCHS, GAN_EPOCHS, METHODS,
#   EVAL_LIMIT (score a seeded subset of the test images; 0 = all), SEED (1), OUT (runs/contamination), DATA,
#   EXTRA_GAN_ARGS, NVQ_DLL (run this built nativevq.dll instead of building src/NativeVq.Cli). Runs use --device cpu.
set -euo pipefail
cd "$(dirname "$0")/.."
MODE=${1:-reduced}
case "$MODE" in
  reduced) d_classes="3 7"; d_vq=10; d_prior=15; d_vae=15; d_gan=15 ;;
  full)    d_classes="0 1 2 3 4 5 6 7 8 9"; d_vq=20; d_prior=30; d_vae=30; d_gan=30 ;;
  *) echo "usage: $0 [reduced|full]" >&2; exit 2 ;;
esac
CLASSES=${CLASSES:-$d_classes}
P_LIST=${P_LIST:-"0 0.05 0.10"}
VQ_EPOCHS=${VQ_EPOCHS:-$d_vq}
PRIOR_EPOCHS=${PRIOR_EPOCHS:-$d_prior}
VAE_EPOCHS=${VAE_EPOCHS:-$d_vae}
GAN_EPOCHS=${GAN_EPOCHS:-$d_gan}
METHODS=${METHODS:-"vqvae vae gan"}
EVAL_LIMIT=${EVAL_LIMIT:-0}
SEED=${SEED:-1}
DATA=${DATA:-tests/fixtures/mnist}
OUT=${OUT:-runs/contamination}

if [ -n "${NVQ_DLL:-}" ]; then
  nvq() { dotnet "$NVQ_DLL" "$@"; }
else
  dotnet build src/NativeVq.Cli -c Release -v q -nologo >/dev/null
  nvq() { dotnet run -c Release --no-build --project src/NativeVq.Cli -- "$@"; }
fi
if [[ " $METHODS " == *" gan "* ]] && ! nvq train --help 2>/dev/null | grep -qE '^ +gan '; then
  echo "note: this build has no 'train gan': the GAN + encoder rows are skipped" >&2
  METHODS=${METHODS//gan/}
fi
mkdir -p "$OUT"
runs="$OUT/runs.tsv"
printf "method\tscore\tclass\tp\tauroc\tseconds\n" > "$runs"
study_start=$(date +%s)

# AUROC of one score from eval's output: the headline line, or the `image AUROC by --image-score` line for a name.
headline() { grep -oE '^image AUROC [0-9.]+' "$1" | awk '{print $3}'; }
by_score() { grep -E '^image AUROC by --image-score:' "$1" | tr -s ' ' '\n' | awk -v n="$2" 'prev == n { print; exit } { prev = $0 }'; }
row() { printf "%s\t%s\t%s\t%s\t%s\t%s\n" "$@" | tee -a "$runs" >&2; }

for p in $P_LIST; do
  for c in $CLASSES; do
    common=(--data "$DATA" --normal-class "$c" --contamination "$p" --contamination-seed "$SEED" --seed "$SEED" --device cpu --quiet)
    evalargs=(--data "$DATA" --normal-class "$c" --no-maps --no-baselines --limit "$EVAL_LIMIT" --device cpu)
    for m in $METHODS; do
      run="$OUT/$m/p$p/class$c"
      rm -rf "$run"
      start=$(date +%s)
      case "$m" in
        vqvae)
          nvq train vqvae "${common[@]}" --out "$run" --epochs "$VQ_EPOCHS" >&2
          nvq train prior --vqvae "$run" "${common[@]}" --epochs "$PRIOR_EPOCHS" >&2
          nvq eval --model "$run" "${evalargs[@]}" --out "$run/report" > "$run/eval.txt"
          row vqvae default "$c" "$p" "$(headline "$run/eval.txt")" "$(( $(date +%s) - start ))" ;;
        vae)
          nvq train vae "${common[@]}" --out "$run" --epochs "$VAE_EPOCHS" >&2
          nvq eval --model "$run" "${evalargs[@]}" --out "$run/report" > "$run/eval.txt"
          secs=$(( $(date +%s) - start ))
          row vae recon "$c" "$p" "$(by_score "$run/eval.txt" recon)" "$secs"
          row vae neg-elbo "$c" "$p" "$(by_score "$run/eval.txt" neg-elbo)" "$secs" ;;
        gan)
          nvq train gan "${common[@]}" --out "$run" --epochs "$GAN_EPOCHS" ${EXTRA_GAN_ARGS:-} >&2
          nvq eval --model "$run" "${evalargs[@]}" --out "$run/report" > "$run/eval.txt"
          secs=$(( $(date +%s) - start ))
          row gan encoder-norm "$c" "$p" "$(by_score "$run/eval.txt" encoder-norm)" "$secs"
          row gan recon "$c" "$p" "$(by_score "$run/eval.txt" recon)" "$secs" ;;
        *) echo "unknown method '$m' in METHODS" >&2; exit 2 ;;
      esac
    done
  done
done

# One table: mean AUROC over classes per (method, score) and P, its drop from P = 0, and summed wall time.
awk -F'\t' -v mode="$MODE" -v classes="$CLASSES" -v total="$(( $(date +%s) - study_start ))" -v json="$OUT/study.json" -v tsv="$OUT/study.tsv" '
  NR == 1 { next }
  {
    k = $1 " " $2; if (!(k in seen)) { seen[k] = 1; keys[++nk] = k }
    if (!($4 in pseen)) { pseen[$4] = 1; ps[++np] = $4 }
    sum[k, $4] += $5; n[k, $4]++; secs[k, $4] += $6
    runs[++nr] = sprintf("{\"method\": \"%s\", \"score\": \"%s\", \"class\": %s, \"p\": %s, \"auroc\": %s, \"seconds\": %s}", $1, $2, $3, $4, $5, $6)
  }
  END {
    printf "method\tscore\tP\tmean_auroc\tdrop_from_p0\tclasses\tseconds\n" > tsv
    printf "%-8s %-13s %6s %11s %13s %8s %8s\n", "method", "score", "P", "mean AUROC", "drop from P=0", "classes", "seconds"
    printf "{\n  \"mode\": \"%s\",\n  \"classes\": \"%s\",\n  \"total_seconds\": %s,\n  \"table\": [\n", mode, classes, total > json
    first = 1
    for (i = 1; i <= nk; i++) for (j = 1; j <= np; j++) {
      k = keys[i]; p = ps[j]; if (!n[k, p]) continue
      mean = sum[k, p] / n[k, p]; base = n[k, ps[1]] ? sum[k, ps[1]] / n[k, ps[1]] : mean
      split(k, mk, " ")
      printf "%-8s %-13s %6s %11.4f %13.4f %8d %8d\n", mk[1], mk[2], p, mean, base - mean, n[k, p], secs[k, p]
      printf "%s\t%s\t%s\t%.4f\t%.4f\t%d\t%d\n", mk[1], mk[2], p, mean, base - mean, n[k, p], secs[k, p] > tsv
      printf "%s    {\"method\": \"%s\", \"score\": \"%s\", \"p\": %s, \"mean_auroc\": %.4f, \"drop_from_p0\": %.4f, \"classes\": %d, \"seconds\": %d}", first ? "" : ",\n", mk[1], mk[2], p, mean, base - mean, n[k, p], secs[k, p] > json
      first = 0
    }
    printf "\n  ],\n  \"runs\": [\n" > json
    for (r = 1; r <= nr; r++) printf "    %s%s\n", runs[r], r < nr ? "," : "" > json
    printf "  ]\n}\n" > json
    printf "total wall time %d s; %s, %s\n", total, json, tsv
  }' "$runs"
