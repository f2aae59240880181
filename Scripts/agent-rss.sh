#!/bin/bash
# Usage: BUILD=<scratch>/release Scripts/agent-rss.sh   (or <scratch>/debug)
# Measures vamp-gateway-agent's VmRSS idle and after 100 gateway changes written by another process, with the
# number of threads and /proc/<pid>/smaps_rollup (file-backed against anonymous memory).
set -e
DIR=${DIR:-/tmp/vamp-agent-rss}; BUILD=${BUILD:-.build/debug}; AGENT_BIN=$(realpath $BUILD/vamp-gateway-agent); rm -rf "$DIR"; mkdir -p "$DIR/kv"; cd "$DIR"
KEY=/vamp/rss/gateways/haproxy/2.6/configuration
FILE="kv/%2Fvamp%2Frss%2Fgateways%2Fhaproxy%2F2.6%2Fconfiguration"
write() { printf '%s' "$1" > kv/.tmp-w && mv kv/.tmp-w "$FILE"; }
write "backend b_rss
  server s 127.0.0.1:9 weight 1
"
$AGENT_BIN --store-type file --store-connection $DIR/kv --store-path $KEY \
  --work-directory $DIR/work --socket-directory $DIR/work/run --status 127.0.0.1:19381 --log-port 0 > agent.log 2>&1 &
AGENT=$!
sleep 5
echo "idle after 5 s: $(grep VmRSS /proc/$AGENT/status)"
sleep 10
echo "idle after 15 s: $(grep VmRSS /proc/$AGENT/status) $(grep Threads /proc/$AGENT/status)"
grep -E "^(Rss|Pss|Shared_Clean|Private_Clean|Private_Dirty|Anonymous):" /proc/$AGENT/smaps_rollup | tr -s ' ' | paste -sd' '

for i in $(seq 1 100); do
  if [ $i -le 50 ]; then
    write "# weights only
# -
backend b_rss
  server s 127.0.0.1:9 weight $((i % 200 + 1))
"
  else
    write "# change $i: a full reload
# -
backend b_rss
  server s 127.0.0.1:9 weight $((i % 200 + 1))
"
  fi
  sleep 0.3
done
sleep 3
echo "after 100 changes: $(grep VmRSS /proc/$AGENT/status) $(grep VmHWM /proc/$AGENT/status) $(grep Threads /proc/$AGENT/status)"
grep -E "^(Rss|Pss|Shared_Clean|Private_Clean|Private_Dirty|Anonymous):" /proc/$AGENT/smaps_rollup | tr -s ' ' | paste -sd' '

curl -s 127.0.0.1:19381/metrics | grep -E "^vamp_gateway_agent_(updates|reloads|weight_updates|unchanged|failed_validations|failed_reloads)_total"
kill -TERM $AGENT; wait $AGENT || true
