#!/usr/bin/env bash
# Bounded load test of `nativevq serve` on loopback: starts the server on a free port with RUN, runs the load
# client twice (only good requests; then 10 % malformed ones), prints both JSON documents, stops the server with
# SIGTERM (graceful: in-flight requests finish). Nothing but the .NET SDK is needed.
# usage: bench/serve_load.sh RUN_DIR [CLIENTS=8 (1..64)] [SECONDS=15 (1..300)] [extra `nativevq serve` options...]
# NO_BUILD=1 uses the Release binaries already built (dotnet build NativeVq.sln -c Release).
set -euo pipefail
cd "$(dirname "$0")/.."
run=${1:?usage: bench/serve_load.sh RUN_DIR [CLIENTS] [SECONDS] [serve options...]}
clients=${2:-8}
seconds=${3:-15}
shift $(( $# < 3 ? $# : 3 ))
[[ "$clients" =~ ^[0-9]+$ && "$clients" -ge 1 && "$clients" -le 64 ]] || { echo "CLIENTS must be 1..64" >&2; exit 2; }
[[ "$seconds" =~ ^[0-9]+$ && "$seconds" -ge 1 && "$seconds" -le 300 ]] || { echo "SECONDS must be 1..300" >&2; exit 2; }

if [ "${NO_BUILD:-0}" != 1 ]; then
  dotnet build -c Release src/NativeVq.Cli -v q -nologo >/dev/null
  dotnet build -c Release bench/NativeVq.ServeLoad -v q -nologo >/dev/null
fi
cli=src/NativeVq.Cli/bin/Release/net10.0/nativevq.dll
load=bench/NativeVq.ServeLoad/bin/Release/net10.0/NativeVq.ServeLoad.dll

log=$(mktemp)
# A 1 MiB body limit keeps the "body over the limit" requests cheap to send.
dotnet "$cli" serve --model "$run" --host 127.0.0.1 --port 0 --max-body-mb 1 "$@" 2>"$log" &
server=$!
trap 'kill "$server" 2>/dev/null || true; rm -f "$log"' EXIT

url=""
for _ in $(seq 1 600); do
  url=$(grep -oE 'listening on http://127\.0\.0\.1:[0-9]+' "$log" | head -1 | sed 's/listening on //') || true
  [ -n "$url" ] && break
  kill -0 "$server" 2>/dev/null || { cat "$log" >&2; exit 1; }
  sleep 0.1
done
[ -n "$url" ] || { echo "server did not start" >&2; cat "$log" >&2; exit 1; }

status=0
echo "== good requests only: $clients clients x $seconds s against $url"
dotnet "$load" --url "$url" --clients "$clients" --seconds "$seconds" --server-pid "$server" || status=1
echo "== 10 % malformed requests: $clients clients x $seconds s"
dotnet "$load" --url "$url" --clients "$clients" --seconds "$seconds" --bad-fraction 0.1 --server-pid "$server" || status=1

kill -TERM "$server"
wait "$server" || { echo "server exited with $?" >&2; status=1; }
trap 'rm -f "$log"' EXIT
grep -E '^(device|ready|stopping)' "$log" >&2 || true
exit $status
