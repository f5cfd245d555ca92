#!/usr/bin/env bash
# Runs every load-generator scenario behind docs/performance.md, one after another, each bounded in time.
# Output: one file per scenario in ${OUT:-bench-results}/. Loopback only; in-process servers on port 0.
set -euo pipefail
cd "$(dirname "$0")/.."
out=${OUT:-bench-results}
mkdir -p "$out"
dotnet build -c Release bench/Smp.LoadGen/Smp.LoadGen.csproj -v q -nologo
gen() { local name=$1; shift; echo "== $name: smp-loadgen $*"; timeout "${LIMIT:-900}" dotnet bench/Smp.LoadGen/bin/Release/net10.0/smp-loadgen.dll "$@" 2>&1 | tee "$out/$name.txt"; }
gen server-load-2048 server-load --pairs 100 --duration 15 --warmup 3
gen server-load-1024 server-load --pairs 100 --duration 15 --warmup 3 --key-bits 1024
gen server-memory server-memory --queues 20000 --key-bits 1024
gen agent-setup agent-setup --connections 20
gen agent-messages-1 agent-messages --connections 1 --messages 200 --window 16
gen agent-latency-1 agent-messages --connections 1 --messages 30 --window 1
gen agent-messages-10 agent-messages --connections 10 --messages 30 --window 16
gen agent-tcp agent-tcp --messages 300 --one-at-a-time 100 --warmup 20
gen agent-memory agent-memory --connections 30
gen group-5 group --members 5 --messages 4
gen group-10 group --members 10 --messages 4 --key-pool 72
# About 7 minutes on its own on 2 shared cores, so only on request.
if [ "${GROUP20:-0}" = 1 ]; then gen group-20 group --members 20 --messages 2 --timeout 1200; fi
# Randomized group schedules (groups.md §12), only on request: ~1 min a schedule; SIM_FULL=1 for the full configuration.
if [ "${SIM:-0}" = 1 ]; then gen group-sim group-sim --schedules "${SIM_SCHEDULES:-10}" --full "$([ "${SIM_FULL:-0}" = 1 ] && echo true || echo false)" --timeout 3000 || true; fi
