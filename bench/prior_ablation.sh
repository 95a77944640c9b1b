#!/usr/bin/env bash
# Prior ablation on the MNIST one-vs-rest protocol (issue 13): one VQ-VAE per class (VQ_EPOCHS, default
# settings), then `train prior` with each setting below on a copy of that run, then `eval --no-maps`.
# Jobs run in LANES parallel lanes, each pinned to CORES cores (taskset) so every timing is a CORES-core timing.
# Prints one row per (setting, class): AUROC, recon-baseline AUROC, prior training / held-out NLL per code,
# prior seconds, eval seconds; then the mean AUROC per setting.
# Usage: bench/prior_ablation.sh [setting...]   (default: every setting below)
# Env: CLASSES ("2 3 5 8"), VQ_EPOCHS (20), LANES (1), CORES (2), PIN (1; 0 = no taskset), OUT (runs/prior_ablation), DATA (tests/fixtures/mnist),
#      NVQ (command that runs the CLI; default: dotnet run on the Release build)
set -euo pipefail
cd "$(dirname "$0")/.."
DATA=${DATA:-tests/fixtures/mnist}
OUT=${OUT:-runs/prior_ablation}
VQ_EPOCHS=${VQ_EPOCHS:-20}
LANES=${LANES:-1}
CORES=${CORES:-2}
read -r -a classes <<< "${CLASSES:-2 3 5 8}"
# The regularised set, each option once (System.CommandLine refuses an option given twice).
reg() { echo "--schedule ${1:-cosine} --prior-dropout ${2:-0.1} --weight-decay ${3:-0.01} --keep-best true --augment-copies ${4:-4}"; }
declare -A setting=(
  [seeds]="--recipe seeds"
  [default]=""
  [regularised]="$(reg)"
  [no-augment]="$(reg cosine 0.1 0.01 0)"
  [no-dropout]="$(reg cosine 0 0.01 4)"
  [no-decay]="$(reg cosine 0.1 0 4)"
  [const-lr]="$(reg none 0.1 0.01 4)"
  [seeds+keep-best]="--recipe seeds --keep-best true --patience 5"
  [seeds+augment]="--recipe seeds --augment-copies 4"
  [channels32]="--prior-channels 32"
)
names=("$@")
[ ${#names[@]} -eq 0 ] && names=(seeds regularised no-augment no-dropout no-decay const-lr seeds+keep-best seeds+augment channels32)
if [ -z "${NVQ:-}" ]; then
  dotnet build src/NativeVq.Cli -c Release -v q -nologo >/dev/null
  NVQ="dotnet run -c Release --no-build --project src/NativeVq.Cli --"
fi
mkdir -p "$OUT"

# lane L runs its share of the jobs one after another on cores [L*CORES, (L+1)*CORES).
pin() { local lane=$1; shift; if [ "${PIN:-1}" = 1 ] && command -v taskset >/dev/null; then taskset -c "$((lane * CORES))-$((lane * CORES + CORES - 1))" "$@"; else "$@"; fi; }
run_lanes() {   # run_lanes FUNCTION JOB...: the jobs dealt round-robin to LANES lanes
  local fn=$1; shift; local jobs=("$@") lane
  for ((lane = 0; lane < LANES; lane++)); do
    ( for ((j = lane; j < ${#jobs[@]}; j += LANES)); do "$fn" "$lane" "${jobs[j]}"; done ) &
  done
  wait
}

vq() {
  local lane=$1 c=$2 s; s=$(date +%s%N)
  pin "$lane" $NVQ train vqvae --data "$DATA" --normal-class "$c" --out "$OUT/vq$c" --epochs "$VQ_EPOCHS" --device cpu --quiet > "$OUT/vq$c.log" 2>&1 || echo "vq$c failed: $(tail -1 "$OUT/vq$c.log")" >&2
  echo "vq$c $(( ($(date +%s%N) - s) / 1000000000 ))" >> "$OUT/vq_seconds.txt"
}
prior() {
  local lane=$1 job=$2 name c run s p e
  name=${job%:*}; c=${job##*:}; run="$OUT/$name/class$c"
  rm -rf "$run"; mkdir -p "$OUT/$name"; cp -r "$OUT/vq$c" "$run"
  s=$(date +%s%N)
  # shellcheck disable=SC2086
  pin "$lane" $NVQ train prior --vqvae "$run" --data "$DATA" --normal-class "$c" --device cpu --quiet ${setting[$name]} > "$run/prior.log" 2>&1 || echo "prior $name $c failed: $(tail -1 "$run/prior.log")" >&2
  p=$(( ($(date +%s%N) - s) / 1000000000 )); s=$(date +%s%N)
  pin "$lane" $NVQ eval --model "$run" --data "$DATA" --normal-class "$c" --out "$run/report" --no-maps --device cpu > "$run/eval.txt" 2>&1 || echo "eval $name $c failed: $(tail -1 "$run/eval.txt")" >&2
  e=$(( ($(date +%s%N) - s) / 1000000000 ))
  local a b nll
  a=$(grep -oE '^image AUROC [0-9.]+' "$run/eval.txt" | awk '{print $3}')
  b=$(grep -oE 'baseline AUROC [0-9.]+' "$run/eval.txt" | awk '{print $3}')
  nll=$(grep -oE 'training [0-9.]+ nats, held-out [0-9.]+' "$run/prior.log" | awk '{print $2 "\t" $5}')
  printf "%s\t%s\t%s\t%s\t%s\t%s\t%s\n" "$name" "$c" "$a" "$b" "$nll" "$p" "$e" >> "$OUT/rows.tsv"
}

need=()
for c in "${classes[@]}"; do [ -f "$OUT/vq$c/vqvae.nvq" ] || need+=("$c"); done
[ ${#need[@]} -gt 0 ] && run_lanes vq "${need[@]}"
printf "setting\tclass\tauroc\trecon_auroc\ttrain_nll\theld_out_nll\tprior_s\teval_s\n" > "$OUT/rows.tsv"
jobs=()
for n in "${names[@]}"; do for c in "${classes[@]}"; do jobs+=("$n:$c"); done; done
run_lanes prior "${jobs[@]}"
cat "$OUT/rows.tsv"
awk -F'\t' 'NR > 1 { s[$1] += $3; h[$1] += $6 / $5; t[$1] += $7 + $8; n[$1]++ }
  END { for (k in s) printf "mean\t%s\t%.4f\theld/train %.3f\tprior+eval %.0f s\t(%d classes)\n", k, s[k] / n[k], h[k] / n[k], t[k] / n[k], n[k] }' "$OUT/rows.tsv" | sort -k3 -r
