#!/bin/bash
# Runs `convcheck run` (default flags + --snapshots off) against server.py.
#   ./run_convcheck.sh [DEFECT|none] [extra convcheck args...]
# Prints one line: defect, exit code, seed, failing finding ids, output directory.
HERE=$(cd "$(dirname "$0")" && pwd)
CONVCHECK=${CONVCHECK:-$HERE/../../target/debug/convcheck}
D=${1:-none}; shift
AC=AC0123456789abcdef0123456789abcdef; TOK=secrettoken123456
S1=IS11111111111111111111111111111111; S2=IS22222222222222222222222222222222
OUT=$(mktemp -d)
ARGS=(); [ "$D" != none ] && ARGS=(--defect "$D")
python3 "$HERE/server.py" --port 0 --account-sid $AC --auth-token $TOK --services $S1,$S2 \
    "${ARGS[@]}" ${VERB:+--verbose} > "$OUT/srv.out" 2> "$OUT/srv.err" &
SPID=$!
for _ in $(seq 50); do grep -q listening "$OUT/srv.out" 2>/dev/null && break; sleep 0.1; done
URL=$(sed -n 's/^listening on //p' "$OUT/srv.out")
"$CONVCHECK" run --target "$URL" --account-sid $AC --auth-token $TOK \
    --service-sid $S2 --default-service-sid $S1 --snapshots off "$@" > "$OUT/cc.out" 2> "$OUT/cc.err"
RC=$?
kill $SPID; wait $SPID 2>/dev/null
SEED=$(grep -ho 'generation: seed [0-9]*' "$OUT/cc.out" "$OUT/cc.err" | head -1 | awk '{print $3}')
FINDINGS=$(grep -hoE '^error\[[^]]*\]' "$OUT/cc.out" | sort | uniq -c | awk '{printf "%s(x%s) ", $2, $1}')
echo "$D|rc=$RC|seed=$SEED|$FINDINGS|$OUT"
