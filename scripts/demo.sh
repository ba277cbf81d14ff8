#!/usr/bin/env bash
# Start the simulator with the example account, then validate, plan, apply and plan again.
set -euo pipefail
cd "$(dirname "$0")/.."

workdir=$(mktemp -d)
# The simulator and the CLI share a throwaway key: the demo never talks to the real API.
export BLAND_API_KEY="demo-key-$(od -An -N8 -tx1 /dev/urandom | tr -d ' \n')"

reconciler simulator --state examples/account.json --port 0 \
  --ready-file "$workdir/url" >"$workdir/simulator.log" 2>&1 &
simulator=$!
trap 'kill "$simulator" 2>/dev/null || true; wait "$simulator" 2>/dev/null || true; rm -rf "$workdir"' EXIT

for _ in $(seq 100); do
  [ -s "$workdir/url" ] && break
  kill -0 "$simulator" 2>/dev/null || { cat "$workdir/simulator.log"; exit 1; }
  sleep 0.1
done
[ -s "$workdir/url" ] || { echo "the simulator did not start" >&2; exit 1; }
export BLAND_API_URL
BLAND_API_URL=$(cat "$workdir/url")

# Bold command lines on a terminal, as reconciler colours its own output: never with NO_COLOR,
# always with FORCE_COLOR (but 0), else only when stdout is a terminal.
bold='' plain=''
if [ -z "${NO_COLOR:-}" ] && { [ -n "${FORCE_COLOR:-}" ] && [ "$FORCE_COLOR" != 0 ] ||
  { [ -z "${FORCE_COLOR:-}" ] && [ -t 1 ]; }; }; then
  bold=$'\033[1m' plain=$'\033[0m'
fi
step() { printf '\n%s$ %s%s\n' "$bold" "$*" "$plain"; "$@"; }

step reconciler validate examples/personas.yaml
step reconciler plan examples/personas.yaml
step reconciler apply examples/personas.yaml --auto-approve
step reconciler plan examples/personas.yaml --detailed-exitcode
