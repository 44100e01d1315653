#!/usr/bin/env bash
# The Locust plan, headless, against a freshly seeded `rota serve` on a free loopback port:
# seed, serve, create the clients, run Locust for LOCUST_SECONDS (default 10) with a CSV
# report in loadtest/out/, stop the service. Fails if Locust counted any failure (an answer
# other than 2xx, 409 or 422) or sent no requests.
#
#   loadtest/run.sh [path/to/rota] [path/to/locust]
set -euo pipefail
cd "$(dirname "$0")/.."
rota=${1:-target/release/rota}
locust=${2:-locust}
seconds=${LOCUST_SECONDS:-10}
work=$(mktemp -d)
out=loadtest/out
mkdir -p "$out"
port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
db="sqlite://$work/rota.db"
base="http://127.0.0.1:$port"

"$rota" seed --database-url "$db" --agents 500 --publish > "$work/seed.json" 2> /dev/null
ROTA_RATE_LIMIT_PER_MINUTE=100000 "$rota" serve --database-url "$db" --listen "127.0.0.1:$port" \
  > "$work/serve.log" 2>&1 &
serve=$!
trap 'kill "$serve" 2> /dev/null || true; wait "$serve" 2> /dev/null || true; rm -rf "$work"' EXIT
for _ in $(seq 1 100); do
  curl -fs "$base/readyz" > /dev/null 2>&1 && break
  kill -0 "$serve" 2> /dev/null || { cat "$work/serve.log"; exit 1; }
  python3 -c 'import time; time.sleep(0.1)'
done
python3 loadtest/prepare.py --rota "$rota" --database-url "$db" --base-url "$base" \
  --seed-json "$work/seed.json" --out "$work/credentials.json" --agents 40

ROTA_CREDENTIALS="$work/credentials.json" "$locust" -f loadtest/locustfile.py --headless \
  --host "$base" --users 30 --spawn-rate 30 --run-time "${seconds}s" --only-summary \
  --csv "$out/rota" --exit-code-on-error 1

python3 - "$out/rota_stats.csv" "$out/rota_failures.csv" <<'PY'
import csv, sys
stats = {row["Name"]: row for row in csv.DictReader(open(sys.argv[1]))}
failures = list(csv.DictReader(open(sys.argv[2])))
total = int(stats["Aggregated"]["Request Count"])
assert total > 0, "Locust sent no requests"
assert not failures, f"unexpected answers: {failures}"
outcomes = {name: row["Request Count"] for name, row in stats.items() if "[" in name}
print(f"{total} requests, no failures; domain outcomes: {outcomes or 'none'}")
PY
