#!/usr/bin/env bash
# Same-job comparison with the PyTorch peer: runs ../shared/peer/torch_vqvae_pixelsnail.py bench and our
# vqvae/pixelsnail/restoration benches back to back, ROUNDS times alternating, and prints each pair's ratios.
# Why: this 2-core VM has slow phases (the same kernel varies by 2x from minute to minute), so ratios against
# figures measured on another day mix machine speed into the comparison; a pair taken minutes apart does not.
# Needs Debian's python3-torch (see ../shared/peer/README.md); OPENBLAS_DIR points at an extracted
# libopenblas0-pthread (default /tmp/ob/ob/usr/lib/x86_64-linux-gnu/openblas-pthread) for the OpenBLAS figures.
# Usage: bench/compare_with_peer.sh [ROUNDS]      Output: runs/peer_compare/{peer,ours}_N.json and a table.
set -euo pipefail
cd "$(dirname "$0")/.."
rounds=${1:-2}
peer=../shared/peer/torch_vqvae_pixelsnail.py
out=runs/peer_compare
openblas=${OPENBLAS_DIR:-/tmp/ob/ob/usr/lib/x86_64-linux-gnu/openblas-pthread}
if ! /usr/bin/python3 -c "import torch" 2>/dev/null; then
  echo "compare_with_peer: /usr/bin/python3 cannot import torch (apt-get install python3-torch python3-numpy)" >&2
  exit 1
fi
[ -f "$peer" ] || { echo "compare_with_peer: $peer not found" >&2; exit 1; }
ld=""
if [ -d "$openblas" ]; then ld=$openblas; else echo "compare_with_peer: no OpenBLAS at $openblas, the peer uses Debian's reference BLAS" >&2; fi
mkdir -p "$out"
dotnet build bench/NativeVq.Bench -c Release -v q -nologo >/dev/null
for r in $(seq 1 "$rounds"); do
  echo "[compare] round $r: peer" >&2
  LD_LIBRARY_PATH=$ld OPENBLAS_NUM_THREADS=1 /usr/bin/python3 "$peer" bench --threads 2 | tail -1 > "$out/peer_$r.json"
  echo "[compare] round $r: ours" >&2
  dotnet run -c Release --no-build --project bench/NativeVq.Bench -- --only vqvae,pixelsnail,restoration --out "$out/ours_$r.json" >/dev/null 2>&1
done
/usr/bin/python3 - "$out" "$rounds" <<'EOF'
import json, sys
out, rounds = sys.argv[1], int(sys.argv[2])
rows = [("VQ-VAE train steps/s", "vqvae_train_steps_per_s", ("vqvae", "train_steps_per_s"), False),
        ("VQ-VAE encode+decode img/s", "vqvae_encode_decode_images_per_s", ("vqvae", "encode_decode_images_per_s"), False),
        ("PixelSNAIL train steps/s", "pixelsnail_train_steps_per_s", ("pixelsnail", "train_steps_per_s"), False),
        ("PixelSNAIL NLL img/s", "pixelsnail_nll_images_per_s", ("pixelsnail", "nll_images_per_s"), False),
        ("resample 64 codes ms/img (ours: fast)", "resample_64_ms_per_image", ("restoration", "fast_1_ms_per_image"), True)]
print("| figure | " + " | ".join(f"round {r}: ours / PyTorch = ratio" for r in range(1, rounds + 1)) + " |")
print("|---|" + "---|" * rounds)
for label, pk, (bench, ok), lower_better in rows:
    cells = []
    for r in range(1, rounds + 1):
        p = json.load(open(f"{out}/peer_{r}.json"))[pk]
        o = json.load(open(f"{out}/ours_{r}.json"))["results"][bench][ok]
        ratio = p / o if lower_better else o / p
        cells.append(f"{o:.4g} / {p:.4g} = {ratio:.2f}x")
    print(f"| {label} | " + " | ".join(cells) + " |")
for r in range(1, rounds + 1):
    p = json.load(open(f"{out}/peer_{r}.json"))
    print(f"round {r}: peer BLAS {p.get('blas_info', '?')}, other processes used {p.get('cpu_cores_used_by_other_processes')} cores")
EOF
