#!/usr/bin/env bash
# Run a real single-node Apache Kafka 4.1.1 broker (KRaft, broker+controller) on loopback,
# without Docker, for integration tests and CI. Needs Java 17+ and Maven (jars come from
# Maven Central via pom.xml next to this script and are cached in ~/.m2).
#
# Usage: kafka.sh up | down | restart | restart-hard | status | version | fetch
#                 | tool <main-class> [args...] | logs [n]
#
#   up            fetch jars if needed, format a FRESH run dir, start, wait until ready,
#                 print the version line, KAFKA_BROKERS=127.0.0.1:<port> and
#                 KAFKA_SASL_BROKERS=127.0.0.1:<sasl port> # SCRAM user catering (eval-able).
#                 Exit 0 without changes if the broker of this run dir already runs.
#   down          SIGTERM, wait up to KAFKA_STOP_TIMEOUT (30 s), then SIGKILL. Idempotent.
#   restart       SIGTERM stop, then start again on the same data (no re-format), wait ready.
#   restart-hard  SIGKILL, then start again on the same data (no re-format), wait ready.
#   status        "running" (exit 0) or "not running" (exit 3).
#   version       Kafka version of the jars.
#   fetch         only fetch the jars.
#   tool          run a Kafka tool on the broker classpath with quiet logging, e.g.
#                 kafka.sh tool org.apache.kafka.tools.TopicCommand --bootstrap-server 127.0.0.1:19092 --list
#   logs [n]      last n (default 50) lines of the broker log.
#
# Environment:
#   KAFKA_HOME_DIR        jar cache (default $HOME/.cache/catering-match/kafka-4.1.1); jars in lib/
#   KAFKA_RUN_DIR         run dir: config, data, logs, pid (default /tmp/catering-kafka)
#   KAFKA_PORT            PLAINTEXT listener port (default 19092)
#   KAFKA_CONTROLLER_PORT controller listener port (default 19093)
#   KAFKA_SASL_PORT       SASL_PLAINTEXT listener port (default 19094): SCRAM-SHA-256 and
#                         SCRAM-SHA-512, user "catering", password "catering-secret" (created
#                         at format time). PLAINTEXT stays the unauthenticated inter-broker
#                         listener; there is no authorizer, so the user may do anything.
#   KAFKA_READY_TIMEOUT   seconds to wait for readiness (default 120)
#   KAFKA_STOP_TIMEOUT    seconds to wait after SIGTERM before SIGKILL (default 30)
#   KAFKA_HEAP_OPTS       default "-Xms512m -Xmx1g"
#   KAFKA_JAVA_OPTS       extra JVM options for the broker
#   KAFKA_EXTRA_PROPERTIES extra lines appended to server.properties on `up`
#   JAVA, MVN             java / mvn executables (default: from PATH)
set -euo pipefail

KAFKA_VERSION=4.1.1
SCRIPT_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
HOME_DIR=${KAFKA_HOME_DIR:-${HOME}/.cache/catering-match/kafka-${KAFKA_VERSION}}
LIB_DIR=${HOME_DIR}/lib
RUN_DIR=${KAFKA_RUN_DIR:-/tmp/catering-kafka}
PORT=${KAFKA_PORT:-19092}
CONTROLLER_PORT=${KAFKA_CONTROLLER_PORT:-19093}
SASL_PORT=${KAFKA_SASL_PORT:-19094}
# The SCRAM user created at format time (test credentials, loopback only).
SASL_USER=catering
SASL_PASSWORD=catering-secret
READY_TIMEOUT=${KAFKA_READY_TIMEOUT:-120}
STOP_TIMEOUT=${KAFKA_STOP_TIMEOUT:-30}
HEAP_OPTS=${KAFKA_HEAP_OPTS:--Xms512m -Xmx1g}
JAVA=${JAVA:-java}
MVN=${MVN:-mvn}

PROPS=${RUN_DIR}/server.properties
DATA_DIR=${RUN_DIR}/data
LOG_DIR=${RUN_DIR}/logs
LOG_FILE=${LOG_DIR}/server.log
OUT_FILE=${RUN_DIR}/kafka.out
PID_FILE=${RUN_DIR}/kafka.pid
MARKER=${RUN_DIR}/.catering-kafka-run-dir
READY_RE='Transitioning from RECOVERY to RUNNING'

log() { echo "kafka.sh: $*" >&2; }
die() { echo "kafka.sh: error: $*" >&2; exit 1; }

now_ms() { date +%s%3N; }

# ---------------------------------------------------------------- jars

check_java() {
    command -v "$JAVA" >/dev/null 2>&1 || die "java not found (Kafka ${KAFKA_VERSION} needs Java 17+)"
    local v
    v=$("$JAVA" -version 2>&1 | sed -n 's/.*version "\([0-9]*\).*/\1/p' | head -1)
    if [[ -n "$v" && "$v" -lt 17 ]]; then
        die "Java ${v} found; Kafka ${KAFKA_VERSION} needs Java 17+"
    fi
}

fetch() {
    if [[ -f "${LIB_DIR}/.complete" ]] && compgen -G "${LIB_DIR}/kafka_2.13-${KAFKA_VERSION}.jar" >/dev/null; then
        return 0
    fi
    command -v "$MVN" >/dev/null 2>&1 || die "mvn not found: needed once to fetch the Kafka jars"
    local tmp="${LIB_DIR}.tmp.$$" mvn_log="${HOME_DIR}/fetch.log" t0 rc
    mkdir -p "$HOME_DIR"
    rm -rf "$tmp"
    t0=$(now_ms)
    log "fetching Kafka ${KAFKA_VERSION} jars via Maven into ${LIB_DIR}"
    log "(first run downloads ~55 MB into ~/.m2; later runs use the cache; full log: ${mvn_log})"
    # Not -q: the "Downloaded from" lines are turned into progress lines.
    set +e
    "$MVN" -B -f "${SCRIPT_DIR}/pom.xml" dependency:copy-dependencies \
        -DincludeScope=runtime -DoutputDirectory="$tmp" 2>&1 \
        | tee "$mvn_log" \
        | sed -un 's#^\[INFO\] Downloaded from [^:]*: .*/\([^/]*\.jar\) (\(.*\))$#kafka.sh: fetch: \1 (\2)#p' >&2
    rc=${PIPESTATUS[0]}
    set -e
    if [[ $rc -ne 0 ]]; then
        rm -rf "$tmp"
        tail -n 30 "$mvn_log" >&2 || true
        die "mvn dependency:copy-dependencies failed (exit ${rc}); see ${mvn_log}"
    fi
    [[ -f "${tmp}/kafka_2.13-${KAFKA_VERSION}.jar" ]] || die "kafka_2.13-${KAFKA_VERSION}.jar missing after fetch"
    touch "${tmp}/.complete"
    rm -rf "$LIB_DIR"
    mv "$tmp" "$LIB_DIR"
    log "fetched $(ls "$LIB_DIR" | wc -l) jars ($(du -sh "$LIB_DIR" | cut -f1)) in $(( ($(now_ms) - t0) / 1000 )) s"
}

# Run a Kafka main class on the broker classpath with quiet (stderr, WARN) logging.
run_tool() {
    "$JAVA" -Xmx512m -Dlog4j2.configurationFile="${SCRIPT_DIR}/log4j2-tools.properties" \
        -cp "${LIB_DIR}/*" "$@"
}

jar_version() {
    unzip -p "${LIB_DIR}/kafka-clients-${KAFKA_VERSION}.jar" kafka/kafka-version.properties 2>/dev/null \
        | sed -n 's/^version=//p' || true
}

# ---------------------------------------------------------------- process state

read_pid() { [[ -f "$PID_FILE" ]] && tr -dc '0-9' <"$PID_FILE" || true; }

# True when the pid file names a live Kafka broker process.
is_running() {
    local pid
    pid=$(read_pid)
    [[ -n "$pid" ]] || return 1
    kill -0 "$pid" 2>/dev/null || return 1
    # Guard against pid reuse: the process must be our kafka.Kafka.
    if [[ -r "/proc/${pid}/cmdline" ]]; then
        tr '\0' ' ' <"/proc/${pid}/cmdline" | grep -q 'kafka\.Kafka' || return 1
    fi
    return 0
}

port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

configured_port() {
    sed -n 's#^listeners=PLAINTEXT://127\.0\.0\.1:\([0-9]*\).*#\1#p' "$PROPS" 2>/dev/null | head -1
}

configured_controller_port() {
    sed -n 's#^listeners=.*CONTROLLER://127\.0\.0\.1:\([0-9]*\).*#\1#p' "$PROPS" 2>/dev/null | head -1
}

# Empty for a run dir formatted before the SASL listener existed.
configured_sasl_port() {
    sed -n 's#^listeners=.*SASL_PLAINTEXT://127\.0\.0\.1:\([0-9]*\).*#\1#p' "$PROPS" 2>/dev/null | head -1
}

# Print the SASL brokers line when the run dir has a SASL listener.
print_sasl_brokers() {
    local sport
    sport=$(configured_sasl_port)
    [[ -z "$sport" ]] || echo "KAFKA_SASL_BROKERS=127.0.0.1:${sport} # SCRAM user ${SASL_USER}"
}

check_port_value() {
    [[ "$2" =~ ^[0-9]+$ ]] && (( $2 >= 1024 && $2 < 32768 )) \
        || die "$1=$2: use a port in 1024..32767 (ports >= 32768 collide with ephemeral client ports)"
}

# ---------------------------------------------------------------- start / stop

write_properties() {
    cat >"$PROPS" <<EOF
# Written by integration/kafka/kafka.sh: single-node KRaft (broker+controller) on loopback.
process.roles=broker,controller
node.id=1
controller.quorum.bootstrap.servers=127.0.0.1:${CONTROLLER_PORT}
listeners=PLAINTEXT://127.0.0.1:${PORT},CONTROLLER://127.0.0.1:${CONTROLLER_PORT},SASL_PLAINTEXT://127.0.0.1:${SASL_PORT}
advertised.listeners=PLAINTEXT://127.0.0.1:${PORT},CONTROLLER://127.0.0.1:${CONTROLLER_PORT},SASL_PLAINTEXT://127.0.0.1:${SASL_PORT}
controller.listener.names=CONTROLLER
inter.broker.listener.name=PLAINTEXT
listener.security.protocol.map=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT,SASL_PLAINTEXT:SASL_PLAINTEXT
log.dirs=${DATA_DIR}

# SASL_PLAINTEXT listener for clients: SCRAM only (users come from the metadata log,
# created by StorageTool format --add-scram). No authorizer: authenticated = allowed.
sasl.enabled.mechanisms=SCRAM-SHA-256,SCRAM-SHA-512
listener.name.sasl_plaintext.scram-sha-256.sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required;
listener.name.sasl_plaintext.scram-sha-512.sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required;

# Single node: every internal topic has one replica.
offsets.topic.replication.factor=1
offsets.topic.num.partitions=4
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
transaction.state.log.num.partitions=4
share.coordinator.state.topic.replication.factor=1
share.coordinator.state.topic.min.isr=1

# Test friendliness.
group.initial.rebalance.delay.ms=0
auto.create.topics.enable=false
num.partitions=1
log.cleaner.backoff.ms=1000
# After a SIGKILL the restarted broker gets DUPLICATE_BROKER_REGISTRATION until the old
# incarnation's session expires (default 9 s, measured ~10 s extra for restart-hard).
broker.heartbeat.interval.ms=500
broker.session.timeout.ms=3000
EOF
    if [[ -n "${KAFKA_EXTRA_PROPERTIES:-}" ]]; then
        printf '\n# From KAFKA_EXTRA_PROPERTIES.\n%s\n' "$KAFKA_EXTRA_PROPERTIES" >>"$PROPS"
    fi
}

format_storage() {
    local id
    id=$(run_tool kafka.tools.StorageTool random-uuid | tr -d '[:space:]')
    [[ -n "$id" ]] || die "StorageTool random-uuid printed nothing"
    echo "$id" >"${RUN_DIR}/cluster.id"
    log "formatting KRaft storage in ${DATA_DIR} (cluster id ${id})"
    run_tool kafka.tools.StorageTool format --standalone -t "$id" -c "$PROPS" \
        --add-scram "SCRAM-SHA-256=[name=${SASL_USER},password=${SASL_PASSWORD}]" \
        --add-scram "SCRAM-SHA-512=[name=${SASL_USER},password=${SASL_PASSWORD}]" \
        >>"${RUN_DIR}/format.out" 2>&1 \
        || { cat "${RUN_DIR}/format.out" >&2; die "StorageTool format failed"; }
}

# Start the broker on the existing run dir and wait until it is ready.
start_broker() {
    [[ -f "$PROPS" && -f "${DATA_DIR}/meta.properties" ]] \
        || die "${RUN_DIR} is not formatted; run 'kafka.sh up' first"
    local port cport sport
    port=$(configured_port); cport=$(configured_controller_port); sport=$(configured_sasl_port)
    wait_ports_free "$port" "$cport" ${sport:+"$sport"}
    mkdir -p "$LOG_DIR"
    touch "$LOG_FILE"
    local offset t0
    offset=$(stat -c %s "$LOG_FILE")
    t0=$(now_ms)
    rm -f "$PID_FILE"
    echo "=== start $(date -u +%FT%TZ)" >>"$OUT_FILE"
    # setsid: the broker gets its own session, so Ctrl-C / process-group kills of the caller
    # (test runner, CI step) do not reach it; only kafka.sh down/restart stop it.
    # shellcheck disable=SC2086
    setsid nohup bash -c 'echo $$ >"$1"; shift; exec "$@"' _ "$PID_FILE" \
        "$JAVA" $HEAP_OPTS -XX:+UseG1GC -Djava.awt.headless=true ${KAFKA_JAVA_OPTS:-} \
        -Dkafka.logs.dir="$LOG_DIR" \
        -Dlog4j2.configurationFile="${SCRIPT_DIR}/log4j2.properties" \
        -cp "${LIB_DIR}/*" kafka.Kafka "$PROPS" \
        >>"$OUT_FILE" 2>&1 </dev/null &
    # Wait for the pid file written by the child.
    local i
    for i in $(seq 1 50); do [[ -n "$(read_pid)" ]] && break; sleep 0.1; done
    [[ -n "$(read_pid)" ]] || die "broker process did not start (see ${OUT_FILE})"
    log "started broker pid $(read_pid); waiting up to ${READY_TIMEOUT} s for readiness"
    wait_ready "$offset" "$port" "$t0" "$sport"
}

wait_ready() {
    local offset=$1 port=$2 t0=$3 sport=${4:-} deadline=$(( $(date +%s) + READY_TIMEOUT )) new
    while :; do
        if ! is_running; then
            log "broker process exited before becoming ready; last log lines:"
            tail -c +"$((offset + 1))" "$LOG_FILE" | tail -n 40 >&2 || true
            tail -n 20 "$OUT_FILE" >&2 || true
            rm -f "$PID_FILE"
            exit 1
        fi
        new=$(tail -c +"$((offset + 1))" "$LOG_FILE" 2>/dev/null || true)
        if grep -q "$READY_RE" <<<"$new" && port_open "$port" && { [[ -z "$sport" ]] || port_open "$sport"; }; then
            local line
            line=$(grep -m1 -o 'Kafka version: .*' <<<"$new" | sed 's/ (org\.apache.*//' || true)
            log "ready in $(( ($(now_ms) - t0) / 1000 )).$(( ($(now_ms) - t0) % 1000 / 100 )) s: $(grep -m1 -o "$READY_RE" <<<"$new")"
            echo "${line:-Kafka version: $(jar_version)}"
            echo "KAFKA_BROKERS=127.0.0.1:${port}"
            print_sasl_brokers
            return 0
        fi
        if (( $(date +%s) >= deadline )); then
            log "broker not ready after ${READY_TIMEOUT} s; last log lines:"
            tail -c +"$((offset + 1))" "$LOG_FILE" | tail -n 40 >&2 || true
            die "broker not ready (pid $(read_pid) still running; stop it with 'kafka.sh down')"
        fi
        sleep 0.25
    done
}

# A killed broker's ports are released at once; this guards against a foreign listener.
wait_ports_free() {
    local p deadline=$(( $(date +%s) + 10 ))
    for p in "$@"; do
        while port_open "$p"; do
            (( $(date +%s) < deadline )) \
                || die "port ${p} on 127.0.0.1 is in use by another process (set KAFKA_PORT / KAFKA_CONTROLLER_PORT / KAFKA_SASL_PORT)"
            sleep 0.2
        done
    done
}

# stop_broker TERM|KILL
stop_broker() {
    local sig=$1 pid i
    if ! is_running; then
        rm -f "$PID_FILE"
        return 0
    fi
    pid=$(read_pid)
    if [[ "$sig" == KILL ]]; then
        log "SIGKILL broker pid ${pid}"
        kill -KILL "$pid" 2>/dev/null || true
    else
        log "SIGTERM broker pid ${pid}; waiting up to ${STOP_TIMEOUT} s"
        kill -TERM "$pid" 2>/dev/null || true
        for (( i = 0; i < STOP_TIMEOUT * 10; i++ )); do
            kill -0 "$pid" 2>/dev/null || break
            sleep 0.1
        done
        if kill -0 "$pid" 2>/dev/null; then
            log "broker pid ${pid} still alive after ${STOP_TIMEOUT} s: SIGKILL"
            kill -KILL "$pid" 2>/dev/null || true
        fi
    fi
    for (( i = 0; i < 100; i++ )); do
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.1
    done
    kill -0 "$pid" 2>/dev/null && die "broker pid ${pid} did not exit"
    rm -f "$PID_FILE"
    log "broker stopped"
}

# ---------------------------------------------------------------- commands

cmd_up() {
    if is_running; then
        log "already running (pid $(read_pid), run dir ${RUN_DIR})"
        echo "KAFKA_BROKERS=127.0.0.1:$(configured_port)"
        print_sasl_brokers
        return 0
    fi
    check_port_value KAFKA_PORT "$PORT"
    check_port_value KAFKA_CONTROLLER_PORT "$CONTROLLER_PORT"
    check_port_value KAFKA_SASL_PORT "$SASL_PORT"
    [[ "$PORT" != "$CONTROLLER_PORT" && "$SASL_PORT" != "$PORT" && "$SASL_PORT" != "$CONTROLLER_PORT" ]] \
        || die "KAFKA_PORT, KAFKA_CONTROLLER_PORT and KAFKA_SASL_PORT must differ"
    local p
    for p in "$PORT" "$CONTROLLER_PORT" "$SASL_PORT"; do
        if port_open "$p"; then
            die "port ${p} on 127.0.0.1 is already in use (another broker? set KAFKA_PORT / KAFKA_CONTROLLER_PORT / KAFKA_SASL_PORT)"
        fi
    done
    check_java
    fetch
    # Fresh run dir; only ever delete a directory this script created.
    if [[ -e "$RUN_DIR" ]]; then
        if [[ -f "$MARKER" ]]; then
            rm -rf "$RUN_DIR"
        elif [[ -d "$RUN_DIR" && -z "$(ls -A "$RUN_DIR")" ]]; then
            rmdir "$RUN_DIR"
        else
            die "${RUN_DIR} exists and was not created by kafka.sh; remove it or set KAFKA_RUN_DIR"
        fi
    fi
    mkdir -p "$RUN_DIR" "$DATA_DIR" "$LOG_DIR"
    touch "$MARKER"
    write_properties
    format_storage
    start_broker
}

cmd_restart() {
    local sig=$1
    check_java
    fetch
    stop_broker "$sig"
    start_broker
}

cmd_status() {
    if is_running; then
        echo "kafka.sh: running (pid $(read_pid), KAFKA_BROKERS=127.0.0.1:$(configured_port), run dir ${RUN_DIR})"
        return 0
    fi
    echo "kafka.sh: not running (run dir ${RUN_DIR})"
    return 3
}

main() {
    local cmd=${1:-}
    [[ $# -gt 0 ]] && shift
    case "$cmd" in
        up) cmd_up ;;
        down) stop_broker TERM ;;
        restart) cmd_restart TERM ;;
        restart-hard) cmd_restart KILL ;;
        status) cmd_status ;;
        fetch) check_java; fetch ;;
        version)
            check_java; fetch
            echo "Kafka $(run_tool kafka.Kafka --version 2>/dev/null | head -1 || jar_version)"
            ;;
        tool)
            [[ $# -ge 1 ]] || die "usage: kafka.sh tool <main-class> [args...]"
            check_java; fetch
            run_tool "$@"
            ;;
        logs) tail -n "${1:-50}" "$LOG_FILE" ;;
        -h|--help|help) sed -n '2,/^set -euo/p' "${BASH_SOURCE[0]}" | sed '$d; s/^# \{0,1\}//' ;;
        *) die "unknown command '${cmd}'; use up|down|restart|restart-hard|status|version|fetch|tool|logs" ;;
    esac
}

main "$@"
