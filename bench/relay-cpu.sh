#!/usr/bin/env bash
# The relay's own CPU per message: starts `smp server` (Release build) as a separate process on a fresh
# data directory, runs `smp-loadgen server-load --server ADDR --server-pid PID` against it with the extra
# arguments given here, then stops the relay. The generator samples the relay's CPU time (utime + stime)
# at the start and end of its measured window and divides by the MSGs delivered in that window.
# Usage: bench/relay-cpu.sh [server-load options...], e.g. bench/relay-cpu.sh --pairs 100 --duration 15
set -euo pipefail
cd "$(dirname "$0")/.."
dotnet build -c Release src/Smp.Cli/Smp.Cli.csproj -v q -nologo >/dev/null
dotnet build -c Release bench/Smp.LoadGen/Smp.LoadGen.csproj -v q -nologo >/dev/null
data=$(mktemp -d)
log="$data/server.log"
trap 'kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; rm -rf "$data"' EXIT
dotnet src/Smp.Cli/bin/Release/net10.0/smp.dll server --port 0 --host 127.0.0.1 --data "$data/relay" >"$log" 2>&1 &
pid=$!
for _ in $(seq 1 300); do
  addr=$(grep -oE '127\.0\.0\.1:[0-9]+#[A-Za-z0-9+/=_-]+' "$log" | head -1 || true)
  [ -n "$addr" ] && break
  kill -0 "$pid" 2>/dev/null || { cat "$log"; exit 1; }
  sleep 0.1
done
[ -n "$addr" ] || { echo "relay did not print its address"; cat "$log"; exit 1; }
dotnet bench/Smp.LoadGen/bin/Release/net10.0/smp-loadgen.dll server-load --server "$addr" --server-pid "$pid" "$@"
