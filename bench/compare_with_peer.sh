#!/usr/bin/env bash
# Same-job comparison with both peers: the PyTorch script (../shared/peer/torch_vqvae_pixelsnail.py, Debian's
# torch 1.13) and the TorchSharp port (../shared/peer/torchsharp: LibTorch 2.10, MKL, oneDNN 3.7), run with our
# vqvae/pixelsnail/restoration benches in interleaved rounds (ours, LibTorch, PyTorch, ours, LibTorch, ...).
# Why interleaved: this 2-core VM has slow phases (the same kernel varies by 2x from minute to minute), so ratios
# against figures measured on another day mix machine speed into the comparison; a round taken minutes apart does not.
# The PyTorch side needs /usr/bin/python3 with torch (apt-get install python3-torch python3-numpy); without it that
# side is skipped with a message and the LibTorch ratios are still printed. OPENBLAS_DIR points at an extracted
# libopenblas0-pthread (default /tmp/ob/ob/usr/lib/x86_64-linux-gnu/openblas-pthread) for the PyTorch figures.
# The TorchSharp peer is built once in a copy (shared/ is read-only): $TMPDIR/nativevq-torchsharp-peer.
# Usage: bench/compare_with_peer.sh [ROUNDS (default 3)]
# Output: runs/peer_compare/{ours,ts,py}_N.json, a table on stdout, and bench/results/peer_compare.json.
set -euo pipefail
cd "$(dirname "$0")/.."
rounds=${1:-3}
py_peer=../shared/peer/torch_vqvae_pixelsnail.py
ts_src=${NATIVEVQ_TORCHSHARP_PEER:-../shared/peer/torchsharp}
ts_copy=${TMPDIR:-/tmp}/nativevq-torchsharp-peer
out=runs/peer_compare
openblas=${OPENBLAS_DIR:-/tmp/ob/ob/usr/lib/x86_64-linux-gnu/openblas-pthread}

have_py=1
if [ ! -f "$py_peer" ]; then echo "compare_with_peer: $py_peer not found: PyTorch side skipped" >&2; have_py=0
elif ! /usr/bin/python3 -c "import torch" 2>/dev/null; then
  echo "compare_with_peer: /usr/bin/python3 cannot import torch: PyTorch side skipped (apt-get install python3-torch python3-numpy)" >&2; have_py=0
fi
have_ts=1
if [ ! -f "$ts_src/TorchSharpPeer.csproj" ]; then echo "compare_with_peer: $ts_src/TorchSharpPeer.csproj not found: LibTorch side skipped" >&2; have_ts=0; fi
if [ $have_py = 0 ] && [ $have_ts = 0 ]; then echo "compare_with_peer: no peer to compare with" >&2; exit 1; fi
ld=""
if [ $have_py = 1 ]; then
  if [ -d "$openblas" ]; then ld=$openblas; else echo "compare_with_peer: no OpenBLAS at $openblas, the PyTorch peer uses Debian's reference BLAS" >&2; fi
fi

mkdir -p "$out" bench/results
rm -f "$out"/ours_*.json "$out"/ts_*.json "$out"/py_*.json
dotnet build bench/NativeVq.Bench -c Release -v q -nologo >/dev/null
if [ $have_ts = 1 ]; then
  mkdir -p "$ts_copy"
  (cd "$ts_src" && tar --exclude=./bin --exclude=./obj -cf - .) | (cd "$ts_copy" && tar -xf -)
  dotnet build "$ts_copy" -c Release -v q -nologo >/dev/null
fi
for r in $(seq 1 "$rounds"); do
  echo "[compare] round $r: ours" >&2
  dotnet run -c Release --no-build --project bench/NativeVq.Bench -- --only vqvae,pixelsnail,restoration --out "$out/ours_$r.json" >/dev/null 2>&1
  if [ $have_ts = 1 ]; then
    echo "[compare] round $r: LibTorch (TorchSharp peer)" >&2
    # LibTorch warns about NNPACK once per op on CPUs it does not know: its stderr goes to a log, not the terminal.
    (cd "$ts_copy" && dotnet bin/Release/net10.0/TorchSharpPeer.dll bench --threads 2 2>"$OLDPWD/$out/ts_$r.log") | tail -1 > "$out/ts_$r.json"
    [ -s "$out/ts_$r.json" ] || { echo "compare_with_peer: the TorchSharp peer wrote no result (see $out/ts_$r.log)" >&2; exit 1; }
  fi
  if [ $have_py = 1 ]; then
    echo "[compare] round $r: PyTorch" >&2
    LD_LIBRARY_PATH=$ld OPENBLAS_NUM_THREADS=1 /usr/bin/python3 "$py_peer" bench --threads 2 | tail -1 > "$out/py_$r.json"
  fi
done
python3 - "$out" "$rounds" bench/results/peer_compare.json <<'EOF'
import json, os, sys, datetime
out, rounds, dest = sys.argv[1], int(sys.argv[2]), sys.argv[3]
rows = [("VQ-VAE train steps/s", "vqvae_train_steps_per_s", ("vqvae", "train_steps_per_s"), False),
        ("VQ-VAE encode+decode img/s", "vqvae_encode_decode_images_per_s", ("vqvae", "encode_decode_images_per_s"), False),
        ("PixelSNAIL train steps/s", "pixelsnail_train_steps_per_s", ("pixelsnail", "train_steps_per_s"), False),
        ("PixelSNAIL NLL img/s", "pixelsnail_nll_images_per_s", ("pixelsnail", "nll_images_per_s"), False),
        ("resample 64 codes ms/img (ours: fast; peers: naive)", "resample_64_ms_per_image", ("restoration", "fast_1_ms_per_image"), True)]
peers = [(p, name) for p, name in (("ts", "LibTorch"), ("py", "PyTorch")) if os.path.exists(f"{out}/{p}_1.json")]
doc = {"date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"), "rounds": rounds, "figures": {}}
for prefix, name in peers:
    print(f"\nours / {name} (higher = ours faster)")
    print("| figure | " + " | ".join(f"round {r}: ours / {name} = ratio" for r in range(1, rounds + 1)) + " |")
    print("|---|" + "---|" * rounds)
    for label, pk, (bench, ok), lower_better in rows:
        cells = []
        for r in range(1, rounds + 1):
            p = json.load(open(f"{out}/{prefix}_{r}.json"))[pk]
            o = json.load(open(f"{out}/ours_{r}.json"))["results"][bench][ok]
            ratio = p / o if lower_better else o / p
            cells.append(f"{o:.4g} / {p:.4g} = {ratio:.2f}x")
            doc["figures"].setdefault(pk, []).append({"round": r, "ours": o, name: p, f"ratio_ours_to_{name}": round(ratio, 3)}) \
                if prefix == peers[0][0] else doc["figures"][pk][r - 1].update({name: p, f"ratio_ours_to_{name}": round(ratio, 3)})
        print(f"| {label} | " + " | ".join(cells) + " |")
    for r in range(1, rounds + 1):
        p = json.load(open(f"{out}/{prefix}_{r}.json"))
        print(f"round {r}: {name} BLAS {p.get('blas_info', p.get('mkl', '?'))}, other processes used {p.get('cpu_cores_used_by_other_processes')} cores")
doc["peers"] = [name for _, name in peers]
os.makedirs(os.path.dirname(dest), exist_ok=True)
with open(dest + ".tmp", "w") as f: json.dump(doc, f, indent=2)
os.replace(dest + ".tmp", dest)
print(f"\nwritten to {dest}")
EOF
