#!/usr/bin/env bash
# A cluster on loopback (docs/cluster.md): 3 nats-servers as a JetStream cluster, 3 Sextant
# nodes joined to it, and a small feed of demo data published over HTTP through every node.
# Prints the URLs; Ctrl-C stops everything it started and removes its files.
#
#   scripts/cluster-demo.sh            # builds the binary first
#   SEXTANT_BIN=target/debug/sextant scripts/cluster-demo.sh
#
# Ports (override with the variables): NATS clients 14222-14224, NATS routes 16222-16224,
# HTTP 17101-17103.
set -euo pipefail
cd "$(dirname "$0")/.."

NATS_PORT=${NATS_PORT:-14222}
ROUTE_PORT=${ROUTE_PORT:-16222}
HTTP_PORT=${HTTP_PORT:-17101}

command -v nats-server >/dev/null || { echo "nats-server is missing: apt-get install nats-server (or scripts/setup-test-deps.sh)" >&2; exit 1; }
command -v curl >/dev/null || { echo "curl is missing" >&2; exit 1; }
if [ -z "${SEXTANT_BIN:-}" ]; then
    cargo build -q -p sextant-server --bin sextant
    SEXTANT_BIN=target/debug/sextant
fi

dir=$(mktemp -d -t sextant-cluster-demo.XXXXXX)
pids=()
cleanup() {
    trap - INT TERM EXIT
    echo "stopping ${#pids[@]} processes" >&2
    for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
    for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
    rm -rf "$dir"
}
trap cleanup INT TERM EXIT

routes="nats://127.0.0.1:$ROUTE_PORT,nats://127.0.0.1:$((ROUTE_PORT + 1)),nats://127.0.0.1:$((ROUTE_PORT + 2))"
urls="nats://127.0.0.1:$NATS_PORT,nats://127.0.0.1:$((NATS_PORT + 1)),nats://127.0.0.1:$((NATS_PORT + 2))"
for i in 0 1 2; do
    nats-server -js -a 127.0.0.1 -p $((NATS_PORT + i)) -n "nats$i" -sd "$dir/nats$i" \
        --cluster_name sextant-demo --cluster "nats://127.0.0.1:$((ROUTE_PORT + i))" \
        --routes "$routes" >"$dir/nats$i.log" 2>&1 &
    pids+=($!)
done

# The nodes wait for JetStream's quorum themselves (up to 30 s).
for i in 0 1 2; do
    "$SEXTANT_BIN" serve --listen "127.0.0.1:$((HTTP_PORT + i))" --data-dir "$dir/node$i" \
        --cluster "$urls" --node-id "node$i" --cluster-replicas 3 --step 10s \
        >"$dir/node$i.out" 2>"$dir/node$i.log" &
    pids+=($!)
done
for i in 0 1 2; do
    for _ in $(seq 1 600); do
        grep -q "sextant listening on" "$dir/node$i.out" 2>/dev/null && break
        kill -0 "${pids[$((3 + i))]}" 2>/dev/null || { echo "node$i stopped:" >&2; tail -n 20 "$dir/node$i.log" >&2; exit 1; }
        sleep 0.1
    done
done

echo "NATS:  $urls"
for i in 0 1 2; do
    echo "node$i: http://127.0.0.1:$((HTTP_PORT + i))/   (stats: /api/v1/stats, partitions: /healthcheck)"
done
echo "Graph: http://127.0.0.1:$HTTP_PORT/api/v1/graph?q=name,demo.cpu,:eq,:sum,(,app,),:by&s=e-15m"
echo "logs in $dir; Ctrl-C stops everything"

# Demo data: a CPU gauge and a request counter for 4 apps x 3 regions x 4 instances, every
# 10 s, each time through the next node.
n=0
while true; do
    now=$(($(date +%s) * 1000))
    metrics=()
    for app in www api auth search; do
        for region in east west eu; do
            for inst in 1 2 3 4; do
                cpu=$(( (RANDOM % 60) + 20 ))
                reqs=$(( RANDOM % 500 ))
                tags="\"app\":\"$app\",\"region\":\"$region\",\"node\":\"$app-$region-$inst\""
                metrics+=("{\"tags\":{\"name\":\"demo.cpu\",\"atlas.dstype\":\"gauge\",$tags},\"timestamp\":$now,\"value\":$cpu}")
                metrics+=("{\"tags\":{\"name\":\"demo.requests\",\"atlas.dstype\":\"sum\",$tags},\"timestamp\":$now,\"value\":$reqs}")
            done
        done
    done
    body="{\"metrics\":[$(IFS=,; echo "${metrics[*]}")]}"
    port=$((HTTP_PORT + n % 3))
    code=$(curl -s -o /dev/null -w '%{http_code}' -H 'content-type: application/json' \
        --data-binary "$body" "http://127.0.0.1:$port/api/v1/publish" || true)
    [ "$code" = 200 ] || echo "publish through :$port answered $code" >&2
    n=$((n + 1))
    sleep 10
done
