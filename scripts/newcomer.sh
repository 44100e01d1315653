#!/usr/bin/env bash
# The newcomer's path: the README's "Running the service" and "The weekly batch" blocks, run as
# written (in a fresh directory holding a copy of examples/), and each step's outcome checked:
# seed, create a client, serve, token, read, swap, batch (exit 0, every swap applied).
#
# Two things differ from a person at a terminal, both outside the README's text: the binary is
# the one given here instead of a fresh `cargo build --release`, and the service listens on a
# free port instead of 8080 (the README's and examples/batch.yaml's 8080 are rewritten to it).
#
#   scripts/newcomer.sh [path/to/rota]
set -euo pipefail
cd "$(dirname "$0")/.."
rota=$(realpath "${1:-target/debug/rota}")
work=$(mktemp -d)
port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
cp -r examples "$work/examples"
sed -i "s/127.0.0.1:8080/127.0.0.1:$port/" "$work/examples/batch.yaml"

# The first ```sh block after a heading of README.md.
block() {
  awk -v heading="$1" '
    index($0, heading) == 1 { found = 1; next }
    found && /^```sh$/ { inside = 1; next }
    inside && /^```$/ { exit }
    inside { print }
  ' README.md
}
{
  echo 'set -euo pipefail'
  echo "trap 'kill \$(jobs -p) 2> /dev/null || true; wait' EXIT"
  echo "export ROTA_LISTEN=127.0.0.1:$port"
  block '## Running the service' |
    sed "s|^cargo build --release -p rota-cli && export PATH=.*|export PATH=\"$(dirname "$rota"):\$PATH\"|"
  echo 'echo'
  block '## The weekly batch'
} | sed "s/127.0.0.1:8080/127.0.0.1:$port/g" > "$work/path.sh"
grep -q "export PATH=\"$(dirname "$rota")" "$work/path.sh" || { echo "the README no longer builds with cargo build --release -p rota-cli"; exit 1; }

status=0
(cd "$work" && bash path.sh > out.log 2> err.log) || status=$?
cd "$work"
fail() { echo "newcomer path: $1"; echo "--- script"; cat path.sh; echo "--- stdout"; cat out.log; echo "--- stderr"; tail -40 err.log; exit 1; }
[ "$status" -eq 0 ] || fail "the README's commands exited $status (rota batch exits 2 when a swap did not apply)"
jq -e '.scheduleId and .scheduleVersionId' seed.json > /dev/null || fail "seed.json lacks the schedule"
jq -e '.clientSecret and .role == "supervisor"' client.json > /dev/null || fail "client.json lacks the secret"
jq -e '.shifts.items | length > 0' schedule.json > /dev/null || fail "schedule.json has no shifts"
swap=$(grep '^{' out.log | head -1)
echo "$swap" | jq -e '.results | length == 1 and .[0].status == "applied"' > /dev/null \
  || fail "the README's swap did not apply: $swap"
applied=$(jq -s 'map(select(.status == "applied")) | length' report.jsonl)
total=$(wc -l < report.jsonl)
[ "$applied" -eq 200 ] && [ "$total" -eq 200 ] || fail "the batch applied $applied of $total swaps (200 expected)"
# What the README's commands write stays out of git when run in the repository (client.json
# holds a secret).
for f in $(ls); do
  case "$f" in examples | path.sh | out.log | err.log) continue ;; esac
  git -C "$OLDPWD" check-ignore -q "$f" || fail "git would pick up $f, which the README's commands write"
done
echo "newcomer path: seed, client, serve, token, read, swap (applied), batch (exit 0, 200 of 200 applied); git ignores what they write"
rm -rf "$work"
