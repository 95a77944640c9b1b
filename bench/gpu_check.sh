#!/usr/bin/env bash
# The one-shot proof on a GPU machine (issue 14). That machine has no .NET SDK and no network, so the check runs
# from a self-contained bundle built here beforehand.
#
#   bash bench/gpu_check.sh --bundle
#       (on a machine with the .NET SDK) publishes bench/NativeVq.Bench self-contained for linux-x64 and packs it
#       into .gpu/gpu-check.tar.xz (about 25 MiB; ignored by git; carry it to the GPU machine with the repo).
#   bash bench/gpu_check.sh [--device cuda] [--tiny] [--cuda-paths] [--budget SECONDS]
#       (on the GPU machine, from the repo root) unpacks the bundle, shows nvidia-smi, makes libcuda findable, and
#       runs `NativeVq.Bench gpu-check`: kernel parity of the device against cpu, then GEMM / conv / attention /
#       argmin timings and VQ-VAE / PixelSNAIL training and restoration speeds. Prints one JSON document, also
#       written to $OUT/gpu_check.json when $OUT is set (else .gpu/gpu_check.json). --device ilgpu-cpu --tiny is
#       the local dry run of the same bundle (ILGPU's CPU simulator, small shapes); add --cuda-paths to run there the
#       kernels cuda runs (tiled GEMM/conv/argmin, warp softmax, fused attention) instead of the simulator's defaults.
# Every stage runs in its own process with its own time limit inside a global budget (default 420 s; the whole
# script stays under 8 minutes), so one try on the GPU always ends with a JSON document and a log
# ($OUT/gpu_check.log), whatever fails.
set -u
root="$(cd "$(dirname "$0")/.." && pwd)"
bundle="$root/.gpu/gpu-check.tar.xz"

if [ "${1:-}" = "--bundle" ]; then
    set -e
    stage="$root/.gpu/stage"
    rm -rf "$stage"
    mkdir -p "$stage"
    dotnet publish "$root/bench/NativeVq.Bench/NativeVq.Bench.csproj" -c Release -r linux-x64 --self-contained true \
        -p:DebugType=none -p:GenerateDocumentationFile=false -o "$stage/gpu-check" >&2
    # Native parts of the runtime that only debuggers, dump collection, LTTng tracing and the optional standalone
    # GCs load: not needed to run, 7 MB less to carry.
    (cd "$stage/gpu-check" && rm -f createdump libmscordaccore.so libmscordbi.so libcoreclrtraceptprovider.so libclrgc.so libclrgcexp.so)
    tar -C "$stage" -cf - gpu-check | xz -9 -T0 > "$bundle.tmp"
    mv "$bundle.tmp" "$bundle"
    rm -rf "$stage"
    echo "bundle: $bundle ($(du -m "$bundle" | cut -f1) MiB)" >&2
    exit 0
fi

device=cuda; budget=420; extra=()
while [ $# -gt 0 ]; do
    case "$1" in
        --device) device="$2"; shift 2 ;;
        --budget) budget="$2"; shift 2 ;;
        --tiny) extra+=(--tiny); shift ;;
        --cuda-paths) extra+=(--cuda-paths); shift ;;
        *) echo "gpu_check.sh: unknown argument '$1' (expected --bundle, or --device NAME, --budget SECONDS, --tiny, --cuda-paths)" >&2; exit 2 ;;
    esac
done
if [ ! -f "$bundle" ]; then
    echo "gpu_check.sh: $bundle not found: run 'bash bench/gpu_check.sh --bundle' on a machine with the .NET SDK and carry .gpu" >&2
    exit 2
fi
out_dir="${OUT:-$root/.gpu}"
mkdir -p "$out_dir"
json="$out_dir/gpu_check.json"
work="$(mktemp -d "${TMPDIR:-/tmp}/nativevq-gpu-check.XXXXXX")"
if command -v xz >/dev/null; then
    tar -C "$work" -xJf "$bundle"
else # no xz-utils: Python's lzma reads it too
    python3 -c 'import sys, tarfile; tarfile.open(sys.argv[1], "r:xz").extractall(sys.argv[2])' "$bundle" "$work"
fi

# ILGPU binds the driver as "cuda" (dlopen of libcuda.so, unversioned). Put the driver's directories on the search
# path, and when only libcuda.so.1 exists (a driver without the dev symlink), point a private libcuda.so at it.
for d in /usr/local/nvidia/lib64 /usr/local/nvidia/lib /usr/lib/x86_64-linux-gnu /usr/lib64 /usr/local/cuda/compat; do
    [ -d "$d" ] && export LD_LIBRARY_PATH="${LD_LIBRARY_PATH:+$LD_LIBRARY_PATH:}$d"
done
if [ "$device" = cuda ]; then
    so1=""
    for d in ${LD_LIBRARY_PATH//:/ }; do
        if [ -e "$d/libcuda.so" ]; then so1=""; break; fi
        [ -z "$so1" ] && [ -e "$d/libcuda.so.1" ] && so1="$d/libcuda.so.1"
    done
    [ -z "$so1" ] && command -v ldconfig >/dev/null && ! ldconfig -p 2>/dev/null | grep -q 'libcuda\.so ' \
        && so1="$(ldconfig -p 2>/dev/null | awk '/libcuda\.so\.1 /{print $NF; exit}')"
    if [ -n "$so1" ]; then
        mkdir -p "$work/cudalib"
        ln -s "$so1" "$work/cudalib/libcuda.so"
        export LD_LIBRARY_PATH="$work/cudalib:$LD_LIBRARY_PATH"
        echo "[gpu_check] libcuda.so -> $so1" >&2
    fi
    echo "[gpu_check] nvidia-smi:" >&2
    timeout 30 nvidia-smi >&2 || echo "[gpu_check] nvidia-smi failed or is missing" >&2
fi

export DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_NOLOGO=1 DOTNET_gcServer=0
app="$work/gpu-check/NativeVq.Bench"
log="$out_dir/gpu_check.log"
: > "$log"
rm -f "$json"
t0=$(date +%s)
deadline=$((t0 + budget))
# Each stage runs in its own process under its own time limit: a CUDA fault (which poisons the context) or a hang
# costs that stage only. Limits in seconds; the sum exceeds the budget on purpose, later stages get what is left.
naive=()
skipped=()
for entry in parity:150 gemm:60 conv:90 attention:45 argmin:30 vqvae_train:60 pixelsnail_train:60 restoration:60; do
    name="${entry%%:*}"; cap="${entry##*:}"
    left=$((deadline - $(date +%s)))
    [ "$cap" -gt "$left" ] && cap=$left
    if [ "$cap" -lt 20 ]; then skipped+=("$name"); continue; fi
    echo "[gpu_check] stage $name (limit ${cap}s)" >&2
    timeout -k 5 "$cap" "$app" gpu-check --device "$device" --stages "$name" --budget "$((cap - 15))" --t0 "$t0" \
        --append --out "$json" ${extra[@]+"${extra[@]}"} ${naive[@]+"${naive[@]}"} >/dev/null 2> >(tee -a "$log" >&2)
    rc=$?
    [ $rc -ne 0 ] && echo "[gpu_check] stage $name: exit status $rc (124 = time limit)" | tee -a "$log" >&2
    # A wrong tiled GEMM must not spoil the model timings: they then run on the naive kernel (the JSON says so).
    if [ "$name" = parity ] && grep -q '"tiled_gemm_parity": false' "$json" 2>/dev/null; then naive=(--naive-gemm); fi
done
if [ ${#skipped[@]} -gt 0 ]; then
    skip_list="$(IFS=,; echo "${skipped[*]}")"
    "$app" gpu-check --device "$device" --stages "$skip_list" --budget 0 --t0 "$t0" --append --out "$json" ${extra[@]+"${extra[@]}"} >/dev/null 2>>"$log"
fi
rm -rf "$work"
echo "[gpu_check] done in $(( $(date +%s) - t0 ))s; log: $log" >&2
if [ -f "$json" ]; then cat "$json"; echo; else echo "{\"error\": \"the check wrote no JSON; see $log\"}"; exit 1; fi
