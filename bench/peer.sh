#!/usr/bin/env bash
# bench/peer.sh: catering-match against the peer users would pick instead, the same process
# written with Kafka Streams (bench/kstreams), on the real broker of integration/kafka/kafka.sh.
# Run by `make bench-peer`.
#
#   1. builds both (mvn package for the peer and the bench tools; go build for ours, once, so that
#      no compile time is measured and concurrent edits cannot change the binary mid-run);
#   2. starts the broker unless it runs (and stops it at the end only if it started it);
#   3. generates ONE workload (bench.Generate: deterministic by seed, with expected figures);
#   4. per system, on its own fresh topics (6 partitions, RF 1): publishes the whole file, starts
#      the system on it and times it to lag 0 (bench.LagWait: committed offsets == end offsets);
#      stops it, restarts it on an empty local state, and times it until every partition is
#      restored; counts the committed ConfirmOrder commands and dead letters;
#   5. latency: each system again, at half the slower system's throughput for BENCH_LATENCY_SECONDS,
#      measured by the same bench.LatencyProbe;
#   6. prints a table, ending with the peer targets' verdict rows (throughput >= 2.5 x Kafka Streams,
#      p99 lower than Kafka Streams', restore >= 10 x faster), and writes bench/results-peer.json.
#
# Environment:
#   BENCH_ORDERS (20000) BENCH_SEED (42) BENCH_LATENCY_SECONDS (20) BENCH_LATENCY_WARMUP (10, seconds
#   sent at the same rate before the measurement) BENCH_KSTREAMS_THREADS (1)
#   BENCH_LATENCY_RATE (default: half the slower throughput)
#   KAFKA_PORT (19092), and kafka.sh's KAFKA_RUN_DIR / KAFKA_CONTROLLER_PORT, to bench on a
#   private broker instead of the shared one.
# Scratch (workloads, logs, state dirs, binaries) goes to bench/work/ (git-ignored).
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"

ORDERS=${BENCH_ORDERS:-20000}
SEED=${BENCH_SEED:-42}
LAT_SECONDS=${BENCH_LATENCY_SECONDS:-20}
LAT_WARMUP=${BENCH_LATENCY_WARMUP:-10}
KS_THREADS=${BENCH_KSTREAMS_THREADS:-1}
PARTITIONS=6
export KAFKA_PORT=${KAFKA_PORT:-19092}
BROKERS=127.0.0.1:${KAFKA_PORT}
KAFKA=(bash integration/kafka/kafka.sh)
WORK=bench/work
RUN_ID=$(date +%Y%m%d-%H%M%S)
PREFIX=bench-${RUN_ID}
LOGS=${WORK}/logs/${RUN_ID}
STATE=${WORK}/state/${RUN_ID}
RESULTS=bench/results-peer.json
CP="bench/kstreams/target/catering-kstreams.jar:bench/kstreams/target/lib/*"
TOOL=(java -Xmx512m -cp "$CP")
OURS_BIN=${WORK}/bin/catering-match
PUBLISH_BIN=${WORK}/bin/catering

log() { echo "bench: $*" >&2; }
die() { echo "bench: error: $*" >&2; exit 1; }
now_ms() { date +%s%3N; }
# kv LINE KEY: the value of KEY=value in a "k=v k=v" line.
kv() { sed -n "s/.*[ ]$2=\([^ ]*\).*/\1/p" <<<" $1" | head -1; }
# div A B [DECIMALS]
div() { awk -v a="$1" -v b="$2" -v d="${3:-0}" 'BEGIN { if (b == 0) print "null"; else printf "%.*f\n", d, a / b }'; }

STARTED_BROKER=0
PIDS=()
OURS_EXTRA=()

stop_pid() { # stop_pid PID: SIGTERM, up to 60 s, then SIGKILL
    local pid=$1 i
    kill -0 "$pid" 2>/dev/null || { wait "$pid" 2>/dev/null || true; return 0; }
    kill -TERM "$pid" 2>/dev/null || true
    for (( i = 0; i < 600; i++ )); do
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.1
    done
    if kill -0 "$pid" 2>/dev/null; then
        log "pid ${pid} still alive 60 s after SIGTERM: SIGKILL"
        kill -KILL "$pid" 2>/dev/null || true
    fi
    wait "$pid" 2>/dev/null || true
}

cleanup() {
    local rc=$? pid
    trap - EXIT INT TERM
    for pid in "${PIDS[@]}"; do
        stop_pid "$pid"
    done
    if [[ $STARTED_BROKER == 1 ]]; then
        log "stopping the broker this run started"
        "${KAFKA[@]}" down || true
    elif [[ -f bench/kstreams/target/catering-kstreams.jar ]] && "${KAFKA[@]}" status >/dev/null 2>&1; then
        "${TOOL[@]}" bench.BenchAdmin cleanup --brokers "$BROKERS" --prefix "$PREFIX" >&2 || true
    fi
    rm -rf "$STATE"
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# ---------------------------------------------------------------- systems

# start_ours NAME LOG: starts catering-match on topics $PREFIX-NAME-*; sets PID.
start_ours() {
    local t=${PREFIX}-$1
    "$OURS_BIN" --brokers "$BROKERS" --group "$t" --instance-id bench \
        --events-topic "${t}-events" --commands-topic "${t}-commands" \
        --changelog-topic "${t}-changelog" --dlq-topic "${t}-dlq" \
        --partitions "$PARTITIONS" --replication-factor 1 "${OURS_EXTRA[@]}" >/dev/null 2>"$2" &
    PID=$!
    PIDS+=("$PID")
}

# wait_ours_ready PID LOG: waits for "partition restored" of every partition; prints
# "assigned_ts=.. first_ts=.. ready_ts=.. processes=.. records=.. readyz=.." (times from the
# service's own slog lines, epoch ms; readyz: the /readyz status right after, as a cross-check,
# when the binary has --http-addr).
wait_ours_ready() {
    local pid=$1 logf=$2 deadline=$(( $(date +%s) + 300 )) lines n
    while :; do
        lines=$(grep 'msg="partition restored"' "$logf" || true)
        n=$(sed -n 's/.* partition=\([0-9]*\) .*/\1/p' <<<"$lines" | sort -u | grep -c . || true)
        (( n >= PARTITIONS )) && break
        kill -0 "$pid" 2>/dev/null || { tail -n 20 "$logf" >&2; die "catering-match exited before it was ready (log ${logf})"; }
        (( $(date +%s) < deadline )) || die "catering-match not restored after 300 s (log ${logf})"
        sleep 0.05
    done
    local first=0 ready=0 procs=0 recs=0 t ms p r
    while read -r t p r; do
        ms=$(date -d "$t" +%s%3N)
        (( first == 0 || ms < first )) && first=$ms
        (( ms > ready )) && ready=$ms
        procs=$(( procs + p )); recs=$(( recs + r ))
    done < <(sed -n 's/^time=\([^ ]*\) .*msg="partition restored" .* processes=\([0-9]*\) changelog_records=\([0-9]*\).*/\1 \2 \3/p' <<<"$lines")
    local assigned readyz=none url
    t=$(sed -n 's/^time=\([^ ]*\) .*msg="partitions assigned.*/\1/p' "$logf" | head -1)
    assigned=$(date -d "$t" +%s%3N)
    url=$(sed -n 's/.*msg="operations endpoints" url=\(http[^ ]*\).*/\1/p' "$logf" | head -1)
    if [[ -n $url ]]; then
        readyz=$(curl -s -o /dev/null -w '%{http_code}' --max-time 2 "${url%/}/readyz" || true)
    fi
    echo "assigned_ts=${assigned} first_ts=${first} ready_ts=${ready} processes=${procs} records=${recs} readyz=${readyz}"
}

# start_ks NAME OUT ERR [extra MatchApp args]: starts the Kafka Streams peer; sets PID.
start_ks() {
    local t=${PREFIX}-$1 out=$2 err=$3
    shift 3
    java -Xms512m -Xmx1g -cp "$CP" bench.MatchApp --brokers "$BROKERS" --app-id "$t" \
        --events-topic "${t}-events" --commands-topic "${t}-commands" --dlq-topic "${t}-dlq" \
        --state-dir "${STATE}/${t}" --threads "$KS_THREADS" --replication-factor 1 "$@" >"$out" 2>"$err" &
    PID=$!
    PIDS+=("$PID")
}

# wait_ks_ready PID OUT: waits for the READY line; prints it.
wait_ks_ready() {
    local pid=$1 out=$2 deadline=$(( $(date +%s) + 300 ))
    while ! grep -q '^BENCH READY ' "$out"; do
        grep -q '^BENCH FATAL' "$out" && { grep '^BENCH FATAL' "$out" >&2; die "kafka streams failed (${out})"; }
        kill -0 "$pid" 2>/dev/null || { tail -n 20 "$out" "${out%.out}.err" >&2; die "kafka streams exited before it was ready (${out})"; }
        (( $(date +%s) < deadline )) || die "kafka streams not ready after 300 s (${out})"
        sleep 0.05
    done
    grep -m1 '^BENCH READY ' "$out"
}

forget_pid() { # drop a stopped pid from PIDS
    local keep=() p
    for p in "${PIDS[@]}"; do [[ $p == "$1" ]] || keep+=("$p"); done
    PIDS=("${keep[@]}")
}

# ---------------------------------------------------------------- phases

# throughput_restore SYS (ours|kstreams): sets SYS_* result variables.
throughput_restore() {
    local sys=$1 t=${PREFIX}-$1 launch ready done pub0 pub1 line first
    log "[$sys] topics ${t}-{events,commands,dlq}, ${PARTITIONS} partitions"
    "${TOOL[@]}" bench.BenchAdmin create-topics --brokers "$BROKERS" --partitions "$PARTITIONS" --rf 1 \
        "${t}-events" "${t}-commands" "${t}-dlq"
    pub0=$(now_ms)
    "$PUBLISH_BIN" publish --raw --key bench-malformed --file "$WORKLOAD" --events-topic "${t}-events" \
        --brokers "$BROKERS" >"${LOGS}/${sys}-publish.out" 2>"${LOGS}/${sys}-publish.err" \
        || { tail -n 5 "${LOGS}/${sys}-publish.err" >&2; die "publish failed"; }
    pub1=$(now_ms)
    log "[$sys] $(tail -n 1 "${LOGS}/${sys}-publish.out") in $(div $(( pub1 - pub0 )) 1000 1) s"

    # Throughput: from a fresh start (empty state) to lag 0.
    launch=$(now_ms)
    if [[ $sys == ours ]]; then
        start_ours "$sys" "${LOGS}/ours-throughput.log"
    else
        start_ks "$sys" "${LOGS}/kstreams-throughput.out" "${LOGS}/kstreams-throughput.err"
    fi
    local pid=$PID
    line=$("${TOOL[@]}" bench.LagWait --brokers "$BROKERS" --group "$t" --topic "${t}-events" --timeout-s 300) \
        || die "[$sys] lag did not reach 0 (logs in ${LOGS})"
    done=$(kv "$line" ts)
    local records
    records=$(kv "$line" records)
    if [[ $sys == ours ]]; then
        line=$(wait_ours_ready "$pid" "${LOGS}/ours-throughput.log")
        first=$(kv "$line" first_ts)
    else
        line=$(wait_ks_ready "$pid" "${LOGS}/kstreams-throughput.out")
        first=$(kv "$line" ts)
    fi
    stop_pid "$pid"; forget_pid "$pid"
    local proc_s=$(( done - first )) wall_s=$(( done - launch ))
    printf -v "THR_${sys}" '%s' "$(div "$records" "$(div "$proc_s" 1000 3)")"
    printf -v "THR_WALL_${sys}" '%s' "$(div "$records" "$(div "$wall_s" 1000 3)")"
    printf -v "THR_MS_${sys}" '%s' "$proc_s"
    printf -v "STARTUP_MS_${sys}" '%s' "$(( first - launch ))"
    printf -v "RECORDS_${sys}" '%s' "$records"
    log "[$sys] ${records} records: ready $(( first - launch )) ms after launch, lag 0 after another ${proc_s} ms"

    # What it produced (all committed: the system is stopped).
    line=$("${TOOL[@]}" bench.BenchAdmin count --commands --brokers "$BROKERS" --topic "${t}-commands" --ids-out "${LOGS}/${sys}-confirmed-orders.txt")
    printf -v "CMDS_${sys}" '%s' "$(kv "$line" records)"
    printf -v "CMD_DUPS_${sys}" '%s' "$(kv "$line" orders_with_duplicates)"
    printf -v "CMD_BAD_${sys}" '%s' "$(( $(kv "$line" bad_header) + $(kv "$line" bad_command_id) ))"
    log "[$sys] commands: ${line}"
    line=$("${TOOL[@]}" bench.BenchAdmin count --brokers "$BROKERS" --topic "${t}-dlq")
    printf -v "DLQ_${sys}" '%s' "$(kv "$line" records)"

    # Restore: restart on an empty local state; time from launch until every partition is restored.
    if [[ $sys == ours ]]; then
        launch=$(now_ms)
        start_ours "$sys" "${LOGS}/ours-restore.log"
        pid=$PID
        line=$(wait_ours_ready "$pid" "${LOGS}/ours-restore.log")
        ready=$(kv "$line" ready_ts)
        printf -v "RESTORE_SPAN_MS_${sys}" '%s' "$(( ready - $(kv "$line" assigned_ts) ))"
        [[ $(kv "$line" readyz) == none || $(kv "$line" readyz) == 200 ]] \
            || log "[$sys] WARNING: every partition restored per the log, but /readyz answered $(kv "$line" readyz)"
        printf -v "PROCS_${sys}" '%s' "$(kv "$line" processes)"
        printf -v "RESTORED_RECS_${sys}" '%s' "$(kv "$line" records)"
    else
        local expect
        expect=$("${TOOL[@]}" bench.BenchAdmin nonempty-partitions --brokers "$BROKERS" --topic "${t}-process-store-changelog")
        rm -rf "${STATE:?}/${t}"
        launch=$(now_ms)
        start_ks "$sys" "${LOGS}/kstreams-restore.out" "${LOGS}/kstreams-restore.err" --expect-restore "$expect" --count-store
        pid=$PID
        line=$(wait_ks_ready "$pid" "${LOGS}/kstreams-restore.out")
        ready=$(kv "$line" ts)
        printf -v "RESTORED_RECS_${sys}" '%s' "$(kv "$line" restored_records)"
        printf -v "RESTORE_SPAN_MS_${sys}" '%s' "$(kv "$line" restore_span_ms)"
        local i
        for (( i = 0; i < 600; i++ )); do grep -q '^BENCH PROCESSES ' "${LOGS}/kstreams-restore.out" && break; sleep 0.1; done
        printf -v "PROCS_${sys}" '%s' "$(sed -n 's/^BENCH PROCESSES //p' "${LOGS}/kstreams-restore.out")"
    fi
    stop_pid "$pid"; forget_pid "$pid"
    printf -v "RESTORE_MS_${sys}" '%s' "$(( ready - launch ))"
    local procs_var=PROCS_${sys} recs_var=RESTORED_RECS_${sys}
    log "[$sys] restore: ${!procs_var} processes (${!recs_var} changelog records) ready $(( ready - launch )) ms after launch"
}

# latency SYS RATE: restarts the system on its state and probes it.
latency() {
    local sys=$1 rate=$2 t=${PREFIX}-$1 pid line
    if [[ $sys == ours ]]; then
        start_ours "$sys" "${LOGS}/ours-latency.log"
        pid=$PID
        wait_ours_ready "$pid" "${LOGS}/ours-latency.log" >/dev/null
    else
        start_ks "$sys" "${LOGS}/kstreams-latency.out" "${LOGS}/kstreams-latency.err"
        pid=$PID
        wait_ks_ready "$pid" "${LOGS}/kstreams-latency.out" >/dev/null
    fi
    log "[$sys] latency probe: ${rate} events/s, ${LAT_WARMUP} s warm-up then ${LAT_SECONDS} s measured"
    line=$("${TOOL[@]}" bench.LatencyProbe --brokers "$BROKERS" --events-topic "${t}-events" \
        --commands-topic "${t}-commands" --rate "$rate" --seconds "$LAT_SECONDS" --warmup-seconds "$LAT_WARMUP" --prefix "${t}-lat" \
        --out "${LOGS}/${sys}-latency.json")
    stop_pid "$pid"; forget_pid "$pid"
    log "[$sys] ${line}"
    local k
    for k in p50_ms p99_ms max_ms received expected_commands duplicates achieved_rate; do
        printf -v "LAT_${k}_${sys}" '%s' "$(sed -n "s/.*\"${k}\":\([^,}]*\).*/\1/p" <<<"$line")"
    done
    printf -v "LAT_p50_ms_per_5s_${sys}" '%s' "$(sed -n 's/.*"p50_ms_per_5s":\(\[[^]]*\]\).*/\1/p' <<<"$line")"
}

# ---------------------------------------------------------------- main

mkdir -p "$LOGS" "$STATE" "${WORK}/bin"
T_START=$(now_ms)
LOAD_BEFORE=$(cut -d' ' -f1-3 /proc/loadavg)

log "building the Kafka Streams peer and the bench tools (mvn package)"
mvn -q -B -f bench/kstreams/pom.xml package >"${LOGS}/mvn.log" 2>&1 || { tail -n 30 "${LOGS}/mvn.log" >&2; die "mvn package failed"; }
log "building catering-match and catering (go build)"
go build -o "${WORK}/bin/" ./cmd/catering-match ./cmd/catering
if "$OURS_BIN" --help 2>&1 | grep -q -- '-http-addr'; then
    OURS_EXTRA=(--http-addr 127.0.0.1:0) # any free port: the default 127.0.0.1:8080 may be taken
fi

if "${KAFKA[@]}" status >/dev/null 2>&1; then
    log "broker already running on ${BROKERS}: using it, leaving it running"
else
    "${KAFKA[@]}" up >&2
    STARTED_BROKER=1
fi

WORKLOAD=${WORK}/workload-${ORDERS}-${SEED}.jsonl
EXPECTED=${WORKLOAD%.jsonl}.expected.json
if [[ ! -s $WORKLOAD || ! -s $EXPECTED ]]; then
    log "generating ${WORKLOAD}"
    "${TOOL[@]}" bench.Generate --orders "$ORDERS" --seed "$SEED" --out "$WORKLOAD" --expected "$EXPECTED" >/dev/null
fi
EXP_CMDS=$(sed -n 's/.*"expected_confirm_orders":\([0-9]*\).*/\1/p' "$EXPECTED")
EXP_DLQ=$(sed -n 's/.*"expected_dead_lettered":\([0-9]*\).*/\1/p' "$EXPECTED")
EXP_PROCS=$(sed -n 's/.*"processes":\([0-9]*\).*/\1/p' "$EXPECTED")
EVENTS=$(grep -c . "$WORKLOAD")
log "workload: ${ORDERS} orders, ${EVENTS} records; expected ${EXP_CMDS} ConfirmOrder, ${EXP_DLQ} dead letters"

throughput_restore ours
throughput_restore kstreams

if [[ -n ${BENCH_LATENCY_RATE:-} ]]; then
    RATE=$BENCH_LATENCY_RATE
else
    RATE=$(awk -v a="$THR_ours" -v b="$THR_kstreams" 'BEGIN { m = (a < b ? a : b); r = int(m / 2); print (r < 1 ? 1 : r) }')
fi
latency ours "$RATE"
latency kstreams "$RATE"

# ---------------------------------------------------------------- report

ok_counts=yes
[[ $CMDS_ours == "$CMDS_kstreams" && $CMDS_ours == "$EXP_CMDS" ]] || ok_counts=no
ID_DIFF=$(comm -3 "${LOGS}/ours-confirmed-orders.txt" "${LOGS}/kstreams-confirmed-orders.txt" | grep -c . || true)
ok_dlq=yes
[[ $DLQ_ours == "$DLQ_kstreams" && $DLQ_ours == "$EXP_DLQ" ]] || ok_dlq=no
T_TOTAL=$(( ($(now_ms) - T_START) / 1000 ))
LOAD_AFTER=$(cut -d' ' -f1-3 /proc/loadavg)
CPU=$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -1)
KAFKA_VERSION=$(unzip -p bench/kstreams/target/lib/kafka-clients-*.jar kafka/kafka-version.properties 2>/dev/null | sed -n 's/^version=//p' || true)

RST_S_ours=$(div "$RESTORE_MS_ours" 1000 2)
RST_S_kstreams=$(div "$RESTORE_MS_kstreams" 1000 2)
RST_RATE_ours=$(div "$PROCS_ours" "$RST_S_ours")
RST_RATE_kstreams=$(div "$PROCS_kstreams" "$RST_S_kstreams")

# The peer targets, each a ratio of the two systems in this run.
# verdict VALUE OP LIMIT: met / NOT MET (NOT CHECKED when a figure is missing).
verdict() {
    awk -v v="$1" -v op="$2" -v l="$3" 'BEGIN {
        if (v == "" || v == "null") { print "NOT CHECKED (a figure is missing)"; exit }
        if (op == ">=") ok = (v + 0 >= l + 0); else if (op == "<") ok = (v + 0 < l + 0); else ok = 0
        print (ok ? "met" : "NOT MET")
    }'
}
# met_json VERDICT: true / false / null
met_json() { case $1 in met) echo true ;; "NOT MET") echo false ;; *) echo null ;; esac; }
numor() { [[ -n $1 ]] && echo "$1" || echo null; } # a number, or null when empty
THR_RATIO=$(div "$(numor "$THR_ours")" "$(numor "$THR_kstreams")" 2)        # ours / theirs, >= 2.5
P99_RATIO=$(div "$(numor "$LAT_p99_ms_ours")" "$(numor "$LAT_p99_ms_kstreams")" 2) # ours / theirs, < 1
RST_SPEEDUP=$(div "$(numor "$RESTORE_MS_kstreams")" "$(numor "$RESTORE_MS_ours")" 2) # their time / ours, >= 10
[[ $THR_ours == null || $THR_kstreams == null || -z $THR_ours || -z $THR_kstreams ]] && THR_RATIO=null
[[ -z $LAT_p99_ms_ours || -z $LAT_p99_ms_kstreams || $LAT_p99_ms_ours == null || $LAT_p99_ms_kstreams == null ]] && P99_RATIO=null
THR_VERDICT=$(verdict "$THR_RATIO" ">=" 2.5)
P99_VERDICT=$(verdict "$P99_RATIO" "<" 1)
RST_VERDICT=$(verdict "$RST_SPEEDUP" ">=" 10)

{
    echo
    echo "catering-match vs Kafka Streams peer: ${ORDERS} orders (${EVENTS} records, seed ${SEED}), ${PARTITIONS} partitions, broker ${BROKERS}"
    echo "machine: $(nproc) CPU (${CPU}), load before ${LOAD_BEFORE}, after ${LOAD_AFTER}"
    printf '%-40s %16s %16s\n' "" "catering-match" "kafka-streams"
    printf '%-40s %16s %16s\n' "throughput, ready to lag 0 (events/s)" "$THR_ours" "$THR_kstreams"
    printf '%-40s %16s %16s\n' "throughput incl. startup (events/s)" "$THR_WALL_ours" "$THR_WALL_kstreams"
    printf '%-40s %16s %16s\n' "startup to ready (ms)" "$STARTUP_MS_ours" "$STARTUP_MS_kstreams"
    printf '%-40s %16s %16s\n' "latency p50 (ms) @ ${RATE} events/s" "$LAT_p50_ms_ours" "$LAT_p50_ms_kstreams"
    printf '%-40s %16s %16s\n' "latency p99 (ms)" "$LAT_p99_ms_ours" "$LAT_p99_ms_kstreams"
    printf '%-40s %16s %16s\n' "latency max (ms)" "$LAT_max_ms_ours" "$LAT_max_ms_kstreams"
    printf '%-40s %16s %16s\n' "latency commands received/expected" "${LAT_received_ours}/${LAT_expected_commands_ours}" "${LAT_received_kstreams}/${LAT_expected_commands_kstreams}"
    printf '%-40s %16s %16s\n' "restore, launch to restored (s)" "$RST_S_ours" "$RST_S_kstreams"
    printf '%-40s %16s %16s\n' "restore (processes/s)" "$RST_RATE_ours" "$RST_RATE_kstreams"
    printf '%-40s %16s %16s\n' "  of which restoring (s)" "$(div "$RESTORE_SPAN_MS_ours" 1000 2)" "$(div "$RESTORE_SPAN_MS_kstreams" 1000 2)"
    printf '%-40s %16s %16s\n' "processes restored (expected ${EXP_PROCS})" "$PROCS_ours" "$PROCS_kstreams"
    printf '%-40s %16s %16s\n' "changelog records restored" "$RESTORED_RECS_ours" "$RESTORED_RECS_kstreams"
    printf '%-40s %16s %16s\n' "ConfirmOrder commands (expected ${EXP_CMDS})" "$CMDS_ours" "$CMDS_kstreams"
    printf '%-40s %16s %16s\n' "orders with >1 ConfirmOrder" "$CMD_DUPS_ours" "$CMD_DUPS_kstreams"
    printf '%-40s %16s %16s\n' "bad header / command id" "$CMD_BAD_ours" "$CMD_BAD_kstreams"
    printf '%-40s %16s %16s\n' "dead letters (expected ${EXP_DLQ})" "$DLQ_ours" "$DLQ_kstreams"
    echo "latency p50 per 5 s window (ms): catering-match ${LAT_p50_ms_per_5s_ours}, kafka-streams ${LAT_p50_ms_per_5s_kstreams}"
    echo "command counts match: ${ok_counts}; confirmed order ids differing between the two: ${ID_DIFF}; dead letters match: ${ok_dlq}"
    echo
    printf '%-58s %8s %8s  %s\n' "TARGET (catering-match against kafka-streams, this run)" "VALUE" "GOAL" "RESULT"
    printf '%-58s %8s %8s  %s\n' "throughput: our events/s / theirs (ready to lag 0)" "$THR_RATIO" ">= 2.5" "$THR_VERDICT"
    printf '%-58s %8s %8s  %s\n' "latency p99: our p99 / theirs, at ${RATE} events/s" "$P99_RATIO" "< 1" "$P99_VERDICT"
    printf '%-58s %8s %8s  %s\n' "restore: their launch-to-restored time / ours" "$RST_SPEEDUP" ">= 10" "$RST_VERDICT"
    echo "total bench time ${T_TOTAL} s; logs in ${LOGS}"
} | tee "${LOGS}/table.txt"

system_json() { # system_json SYS
    local s=$1 v
    v=THR_$s; printf '{"throughput_events_per_s":%s,' "${!v}"
    v=THR_WALL_$s; printf '"throughput_incl_startup_events_per_s":%s,' "${!v}"
    v=STARTUP_MS_$s; printf '"startup_ms":%s,' "${!v}"
    v=THR_MS_$s; printf '"processing_ms":%s,' "${!v}"
    v=LAT_p50_ms_$s; printf '"latency_p50_ms":%s,' "${!v}"
    v=LAT_p99_ms_$s; printf '"latency_p99_ms":%s,' "${!v}"
    v=LAT_max_ms_$s; printf '"latency_max_ms":%s,' "${!v}"
    v=LAT_achieved_rate_$s; printf '"latency_achieved_rate":%s,' "${!v}"
    v=LAT_p50_ms_per_5s_$s; printf '"latency_p50_ms_per_5s":%s,' "${!v}"
    v=LAT_received_$s; printf '"latency_commands_received":%s,' "${!v}"
    v=LAT_expected_commands_$s; printf '"latency_commands_expected":%s,' "${!v}"
    v=LAT_duplicates_$s; printf '"latency_duplicate_commands":%s,' "${!v}"
    v=RESTORE_MS_$s; printf '"restore_ms":%s,' "${!v}"
    v=RST_RATE_$s; printf '"restore_processes_per_s":%s,' "${!v}"
    v=RESTORE_SPAN_MS_$s; printf '"restore_span_ms":%s,' "${!v}"
    v=PROCS_$s; printf '"processes_restored":%s,' "${!v}"
    v=RESTORED_RECS_$s; printf '"changelog_records_restored":%s,' "${!v}"
    v=CMDS_$s; printf '"confirm_orders":%s,' "${!v}"
    v=CMD_DUPS_$s; printf '"orders_with_duplicate_confirm":%s,' "${!v}"
    v=CMD_BAD_$s; printf '"bad_commands":%s,' "${!v}"
    v=DLQ_$s; printf '"dead_letters":%s}' "${!v}"
}

{
    printf '{"run_id":"%s","orders":%s,"seed":%s,"records":%s,"partitions":%s,"brokers":"%s","kafka_version":"%s",' \
        "$RUN_ID" "$ORDERS" "$SEED" "$EVENTS" "$PARTITIONS" "$BROKERS" "$KAFKA_VERSION"
    printf '"machine":{"cpus":%s,"cpu":"%s","load_before":"%s","load_after":"%s","go":"%s","java":"%s"},' \
        "$(nproc)" "$CPU" "$LOAD_BEFORE" "$LOAD_AFTER" "$(go env GOVERSION)" "$(java -version 2>&1 | head -1 | sed 's/"//g')"
    printf '"kstreams_threads":%s,"latency_rate_events_per_s":%s,"latency_seconds":%s,"latency_warmup_seconds":%s,' \
        "$KS_THREADS" "$RATE" "$LAT_SECONDS" "$LAT_WARMUP"
    printf '"expected":{"confirm_orders":%s,"dead_letters":%s,"processes":%s},' "$EXP_CMDS" "$EXP_DLQ" "$EXP_PROCS"
    printf '"command_counts_match":%s,"confirmed_order_ids_differing":%s,"dead_letters_match":%s,' \
        "$([[ $ok_counts == yes ]] && echo true || echo false)" "$ID_DIFF" "$([[ $ok_dlq == yes ]] && echo true || echo false)"
    printf '"targets":{"throughput_ratio":{"value":%s,"goal":">= 2.5","met":%s},"latency_p99_ratio":{"value":%s,"goal":"< 1","met":%s},"restore_speedup":{"value":%s,"goal":">= 10","met":%s}},' \
        "$THR_RATIO" "$(met_json "$THR_VERDICT")" "$P99_RATIO" "$(met_json "$P99_VERDICT")" "$RST_SPEEDUP" "$(met_json "$RST_VERDICT")"
    printf '"catering_match":%s,"kafka_streams":%s,"bench_seconds":%s}\n' "$(system_json ours)" "$(system_json kstreams)" "$T_TOTAL"
} >"$RESULTS"
log "wrote ${RESULTS}"
if [[ $ok_counts != yes || $ID_DIFF != 0 ]]; then
    log "MISMATCH: ConfirmOrder counts differ (ours ${CMDS_ours}, kafka streams ${CMDS_kstreams}, expected ${EXP_CMDS}): one implementation has a bug"
    exit 1
fi
