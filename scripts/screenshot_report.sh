#!/usr/bin/env bash
# Render the HTML report of a run directory and take a full-page screenshot of it with headless Chromium,
# to look at the report the way a reader sees it.
#
#   scripts/screenshot_report.sh RUN_DIR [OUT.png] [WIDTH] [HEIGHT]
#
# Writes RUN_DIR/report.html (via `mallm-gan report`) and OUT.png (default RUN_DIR/report.png) at
# WIDTHxHEIGHT pixels (default 1280x4000). Needs Chromium: on Debian `apt-get install -y chromium`.
# Set PYTHON to choose the interpreter that has mallm-gan installed (default: python3), TRUE_DAG to a JSON
# file of the true causal graph's edges to show graph edit distances.
set -euo pipefail

if [[ $# -lt 1 ]]; then
    sed -n '2,10p' "$0" | sed 's/^# \{0,1\}//'
    exit 2
fi
run_dir=$1
out=${2:-$run_dir/report.png}
width=${3:-1280}
height=${4:-4000}
python=${PYTHON:-python3}

browser=""
for candidate in chromium chromium-browser google-chrome; do
    if command -v "$candidate" >/dev/null 2>&1; then
        browser=$(command -v "$candidate")
        break
    fi
done
if [[ -z $browser ]]; then
    echo "no Chromium found; install it (Debian: apt-get update && apt-get install -y chromium)" >&2
    exit 1
fi

report="$run_dir/report.html"
# importing cmd_report directly keeps this script working whatever the CLI's module list says
"$python" -c 'import mallm_gan.cli.cmd_report; from mallm_gan.cli import main; main()' report "$run_dir" --out "$report" \
    ${TRUE_DAG:+--true-dag "$TRUE_DAG"}

profile=$(mktemp -d)
trap 'rm -rf "$profile"' EXIT
"$browser" --headless --no-sandbox --disable-gpu --disable-quic --no-first-run \
    --disable-background-networking --disable-component-update --disable-sync \
    --hide-scrollbars --user-data-dir="$profile" --window-size="$width,$height" \
    --screenshot="$(realpath -m "$out")" "file://$(realpath "$report")" >"$profile/log" 2>&1 || {
    # Chromium is chatty on stderr (D-Bus, GPU); show it only when it failed
    cat "$profile/log" >&2
    exit 1
}
echo "screenshot: $out"
