#!/usr/bin/env bash
# The contract test: is /openapi.json the truth about the wire?
#
# 1. A Python client generated from the document by openapi-python-client must take in every
#    schema and every response: any warning (a schema or a response it drops) fails the run.
#    openapi-generator must find the document valid and generate TypeScript (typescript-fetch)
#    and Java clients with a method for every operation (it needs a Java runtime).
# 2. schemathesis runs every check (`--checks all`: server errors, status codes, response
#    schemas, content types and headers, schema-valid requests accepted, schema-violating ones
#    rejected, …) plus rota's own (contract/hooks.py: every problem's code is one the document
#    lists for its status) with every phase (examples, coverage, fuzzing, stateful) against a freshly
#    seeded `rota serve`, once as an admin and once as an agent, each bounded by
#    CONTRACT_SECONDS (default 90). Any failure fails the run.
#
# The service runs with its webhook dispatcher off: subscriptions the fuzzer creates are stored
# and listed, but nothing is sent anywhere.
#
#   contract/run.sh [path/to/rota] [path/to/venv]
set -euo pipefail
cd "$(dirname "$0")/.."
rota=${1:-target/debug/rota}
venv=${2:-target/ci-venv}
seconds=${CONTRACT_SECONDS:-90}
here=$PWD
work=$(mktemp -d)
port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
db="sqlite://$work/rota.db"
base="http://127.0.0.1:$port"
out=contract/out
mkdir -p "$out"

"$rota" seed --database-url "$db" --agents 50 --publish > "$work/seed.json" 2> /dev/null
"$rota" clients create --database-url "$db" --role admin > "$work/admin.json"
cat > "$work/rota.toml" <<TOML
rate_limit_per_minute = 1000000
rate_limit_burst = 1000000
tokens_per_client_minute = 1000000
tokens_per_address_minute = 1000000
failed_authentications_per_minute = 1000000

[webhooks]
dispatch = false
TOML
"$rota" serve --config "$work/rota.toml" --database-url "$db" --listen "127.0.0.1:$port" \
  > "$work/serve.log" 2>&1 &
serve=$!
trap 'kill "$serve" 2> /dev/null || true; wait "$serve" 2> /dev/null || true; rm -rf "$work"' EXIT

token() {
  curl -sf --retry 50 --retry-connrefused --retry-delay 0 -u "$(jq -r .clientId "$1"):$(jq -r .clientSecret "$1")" \
    -d grant_type=client_credentials "$base/oauth/token" | jq -r .access_token
}
admin=$(token "$work/admin.json")
bu=$(jq -r .businessUnitId "$work/seed.json")
agent_id=$(curl -sf -H "Authorization: Bearer $admin" "$base/api/v2/wfm/business-units/$bu/agents?limit=1" \
  | jq -r '.items[0].id')
"$rota" clients create --database-url "$db" --role agent --agent-id "$agent_id" > "$work/agent.json"
agent=$(token "$work/agent.json")
curl -sf "$base/openapi.json" > "$work/openapi.json"

echo "== openapi-python-client: a client generated from the document keeps every schema and response"
(cd "$work" && "$here/$venv/bin/openapi-python-client" generate --path openapi.json \
  --config "$here/contract/openapi-python-client.yaml" \
  --output-path client --meta none > generate.log 2>&1) || { cat "$work/generate.log"; exit 1; }
if grep -qiE "warning|unable to|cannot|removal|will not be generated|omitted" "$work/generate.log"; then
  cat "$work/generate.log"
  echo "openapi-python-client dropped part of the document"
  exit 1
fi
models=$(find "$work/client/models" -name '*.py' ! -name '__init__.py' | wc -l)
operations=$(find "$work/client/api" -name '*.py' ! -name '__init__.py' | wc -l)
echo "generated $operations operations and $models models, no warning"

echo "== openapi-generator: the document validates, and TypeScript and Java clients have every operation"
generator="$here/$venv/bin/openapi-generator-cli"
"$generator" validate -i "$work/openapi.json" > "$work/validate.log" 2>&1 \
  || { cat "$work/validate.log"; echo "openapi-generator finds the document invalid"; exit 1; }
documented=$(jq '[.paths[][]] | length' "$work/openapi.json")
"$generator" generate -i "$work/openapi.json" -g typescript-fetch -o "$work/ts" > "$work/ts.log" 2>&1 \
  || { cat "$work/ts.log"; exit 1; }
"$generator" generate -i "$work/openapi.json" -g java -o "$work/java" > "$work/java.log" 2>&1 \
  || { cat "$work/java.log"; exit 1; }
ts=$(cat "$work"/ts/src/apis/*.ts 2> /dev/null "$work"/ts/apis/*.ts 2> /dev/null | grep -c "async [A-Za-z_]*Raw(" || true)
java=$(cat "$work"/java/src/main/java/org/openapitools/client/api/*.java | grep -c "public okhttp3.Call [A-Za-z_]*Call(" || true)
if [ "$ts" -ne "$documented" ] || [ "$java" -ne "$documented" ]; then
  echo "of $documented operations, the TypeScript client has $ts and the Java client $java"
  exit 1
fi
echo "TypeScript and Java clients: $documented of $documented operations"

fuzz() {
  local who=$1 bearer=$2 phases=$3 status=0
  echo "== schemathesis as $who ($phases; ${seconds}s)"
  PYTHONPATH="$here/contract" SCHEMATHESIS_HOOKS=hooks \
    "$here/$venv/bin/schemathesis" --no-color --config-file contract/schemathesis.toml run \
    "$base/openapi.json" --checks all --phases "$phases" --max-time "$seconds" --workers 1 \
    -H "Authorization: Bearer $bearer" --seed 1 > "$out/$who.log" 2>&1 || status=$?
  grep -E "^  (Selected|Tested):|generated,|^=+ .* in [0-9.]+s" "$out/$who.log" || true
  if [ "$status" -ne 0 ]; then
    sed -n '/^=* *FAILURES/,$p' "$out/$who.log"
    echo "schemathesis as $who failed (exit $status); the whole log is $out/$who.log"
    exit 1
  fi
}
fuzz admin "$admin" examples,coverage,fuzzing,stateful
fuzz agent "$agent" examples,coverage,fuzzing
echo "contract: no failure; the service answered $(grep -c 'status=' "$work/serve.log") requests"
