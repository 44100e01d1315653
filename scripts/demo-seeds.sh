#!/usr/bin/env bash
# Runs `rota demo` at its defaults over seeds 1-10 (or the seeds given) and prints each seed's
# 409 share for the user's setup with its interval, and how many seeds fell within 10-20%.
# Not part of CI: it takes about ten minutes. Extra flags go to every run: ROTA_DEMO_FLAGS.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release -q -p rota-cli
seeds=("$@")
[ ${#seeds[@]} -gt 0 ] || seeds=(1 2 3 4 5 6 7 8 9 10)
within=0
echo "| seed | portal pace | conflicted requests | 409s of requests (share, 95% interval) | rota's way: failed, retries | history checks |"
echo "| ---: | --- | ---: | --- | --- | --- |"
for seed in "${seeds[@]}"; do
  # shellcheck disable=SC2086
  out=$(target/release/rota demo --seed "$seed" ${ROTA_DEMO_FLAGS:-})
  pace=$(grep -o 'the portal commits [0-9.]* versions/s' <<<"$out" | grep -o '[0-9.]*' || echo given)
  row=$(grep "^| the user's setup |" <<<"$out")
  conflicted=$(cut -d'|' -f4 <<<"$row" | xargs)
  shares=$(cut -d'|' -f5 <<<"$row" | xargs)
  share=$(grep -o '([0-9.]*%' <<<"$shares" | tr -d '(%')
  rota_row=$(grep "^| rota's way |" <<<"$out")
  rota_failed=$(cut -d'|' -f10 <<<"$rota_row" | xargs)
  rota_retries=$(cut -d'|' -f6 <<<"$rota_row" | xargs)
  if grep -q "Checked against each run's history.*NO" <<<"$out"; then checks="FAILED"; else checks="passed"; fi
  echo "| $seed | $pace/s | $conflicted | $shares | $rota_failed, $rota_retries | $checks |"
  if awk -v s="$share" 'BEGIN { exit !(s >= 10 && s <= 20) }'; then within=$((within + 1)); fi
done
echo
echo "The user's setup got 409 on 10-20% of its requests on $within of ${#seeds[@]} seeds."
