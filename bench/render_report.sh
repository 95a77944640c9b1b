#!/usr/bin/env bash
# Screenshots a NativeVq HTML report (index.html) with headless Chromium, for a quick visual check.
# Usage: bench/render_report.sh <report-dir> [out.png] [width,height]
# Not used by the tests (they must not depend on a browser).
set -euo pipefail
dir="${1:?usage: $0 <report-dir> [out.png] [width,height]}"
out="${2:-$dir/screenshot.png}"
size="${3:-1400,2000}"
page="$(cd "$dir" && pwd)/index.html"
[ -f "$page" ] || { echo "no index.html in $dir" >&2; exit 1; }
browser=""
for b in chromium chromium-browser google-chrome; do
  if command -v "$b" >/dev/null 2>&1; then browser="$b"; break; fi
done
if [ -z "$browser" ]; then
  echo "chromium is not installed; install it with: sudo apt-get install -y chromium   (then re-run)" >&2
  echo "or open $page in any browser" >&2
  exit 2
fi
profile="$(mktemp -d)"
trap 'rm -rf "$profile"' EXIT
out_abs="$(cd "$(dirname "$out")" && pwd)/$(basename "$out")"
"$browser" --headless --no-sandbox --disable-gpu --disable-background-networking --disable-component-update \
  --disable-sync --no-first-run --user-data-dir="$profile" --screenshot="$out_abs" --window-size="$size" \
  "file://$page" >/dev/null 2>&1
echo "wrote $out_abs"
