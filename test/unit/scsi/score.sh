#!/bin/sh
# Usage: test/unit/scsi/score.sh PORT ramdisk|fileio|block ARGS...  (runs libiscsi-score against one LUN, two paths)
PORT=$1; shift
cd "$(dirname "$0")/../../.."
setsid npx tsx test/unit/scsi/score-server.ts "$PORT" "$@" > /tmp/score-server-$PORT.log 2>&1 &
PID=$!
for i in $(seq 1 60); do grep -q READY /tmp/score-server-$PORT.log 2>/dev/null && break; sleep 0.5; done
URL="iscsi://127.0.0.1:$PORT/iqn.2003-01.org.linux-iscsi.portico:score/0"
/work/shared/tools/libiscsi-score "$URL" "$URL" --json /tmp/score-$PORT.json --log /tmp/score-$PORT.log
kill -TERM -- -$PID 2>/dev/null; wait $PID 2>/dev/null
