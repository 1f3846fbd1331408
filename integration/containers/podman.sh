#!/usr/bin/env bash
# Containers without Docker: podman serves the Docker API (for testcontainers-go and compose
# clients) and builds the images, from bases made here, since no image registry is reachable.
#
# Usage: podman.sh install | engine-up | engine-down | images | env | status | podman ARGS...
#
#   install      apt-get install podman, runc, mmdebstrap and podman-compose when missing.
#   engine-up    start `podman system service` on a unix socket (setsid, pid file), wait until
#                /_ping answers, print the environment lines (as `env` does). Idempotent.
#   engine-down  stop that service by its pid: SIGTERM, then SIGKILL after 10 s. Idempotent.
#   images       build, when missing (REBUILD=1: always):
#                  localhost/catering-jre:17          Debian bookworm + OpenJDK 17 JRE (mmdebstrap)
#                  localhost/catering-go:<go version> Debian bookworm + this machine's Go toolchain
#                  docker.io/apache/kafka:4.1.1       the JRE base + the jars kafka.sh fetches
#                  localhost/catering-match:dev       the repository's Dockerfile
#   env          print CONTAINERS_CONF, DOCKER_HOST and TESTCONTAINERS_RYUK_DISABLED as
#                eval-able export lines.
#   status       "running" (exit 0) or "not running" (exit 3).
#   podman ARGS  run podman with this script's configuration (runc, cgroupfs, no ulimits).
#
# Environment:
#   PODMAN_RUN_DIR  socket, pid, log and containers.conf (default /tmp/catering-podman)
#   REBUILD         1: rebuild the images even when they exist
set -euo pipefail

SCRIPT_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(cd "${SCRIPT_DIR}/../.." && pwd)
RUN_DIR=${PODMAN_RUN_DIR:-/tmp/catering-podman}
SOCK=${RUN_DIR}/podman.sock
PID_FILE=${RUN_DIR}/service.pid
LOG_FILE=${RUN_DIR}/service.log
CONF=${RUN_DIR}/containers.conf

KAFKA_IMAGE=docker.io/apache/kafka:4.1.1
JRE_IMAGE=localhost/catering-jre:17
SERVICE_IMAGE=localhost/catering-match:dev
GO_VERSION=$(go env GOVERSION 2>/dev/null || echo unknown)
GO_IMAGE=localhost/catering-go:${GO_VERSION#go}

log() { echo "podman.sh: $*" >&2; }
die() { echo "podman.sh: error: $*" >&2; exit 1; }
now() { date +%s; }

# The measured settings for these machines: crun fails (cgroups in hybrid mode), and podman's
# default ulimits cannot be set (setrlimit RLIMIT_NOFILE: Operation not permitted).
write_conf() {
    mkdir -p "$RUN_DIR"
    cat >"$CONF" <<'EOF'
[containers]
default_ulimits = []

[engine]
runtime = "runc"
cgroup_manager = "cgroupfs"
events_logger = "file"
EOF
}

pm() {
    [[ -f "$CONF" ]] || write_conf
    CONTAINERS_CONF="$CONF" podman "$@"
}

print_env() {
    echo "export CONTAINERS_CONF=${CONF}"
    echo "export DOCKER_HOST=unix://${SOCK}"
    # Ryuk's image cannot be pulled here; the tests and this script stop what they start.
    echo "export TESTCONTAINERS_RYUK_DISABLED=true"
}

install() {
    local missing=()
    for c in podman runc mmdebstrap podman-compose; do
        command -v "$c" >/dev/null 2>&1 || missing+=("$c")
    done
    if ((${#missing[@]} == 0)); then
        log "podman, runc, mmdebstrap and podman-compose are installed"
        return 0
    fi
    log "installing ${missing[*]} (Debian packages)"
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
}

read_pid() { [[ -f "$PID_FILE" ]] && tr -dc '0-9' <"$PID_FILE" || true; }

is_running() {
    local pid
    pid=$(read_pid)
    [[ -n "$pid" ]] && kill -0 "$pid" 2>/dev/null \
        && tr '\0' ' ' <"/proc/${pid}/cmdline" 2>/dev/null | grep -q 'system service'
}

ping() { curl -fsS --max-time 2 --unix-socket "$SOCK" http://d/_ping 2>/dev/null | grep -q OK; }

engine_up() {
    command -v podman >/dev/null 2>&1 || die "podman is not installed (run: $0 install)"
    write_conf
    if is_running && ping; then
        log "the API service already runs (pid $(read_pid))"
        print_env
        return 0
    fi
    rm -f "$SOCK" "$PID_FILE"
    setsid nohup bash -c 'echo $$ >"$1"; shift; exec "$@"' _ "$PID_FILE" \
        env CONTAINERS_CONF="$CONF" podman system service --time=0 "unix://${SOCK}" \
        >>"$LOG_FILE" 2>&1 </dev/null &
    local deadline=$(($(now) + 30))
    until ping; do
        if ! is_running && [[ -n "$(read_pid)" ]]; then
            tail -n 20 "$LOG_FILE" >&2 || true
            die "podman system service exited (log: ${LOG_FILE})"
        fi
        (($(now) < deadline)) || die "the Docker API on ${SOCK} does not answer after 30 s (log: ${LOG_FILE})"
        sleep 0.2
    done
    log "Docker API (podman $(podman --version | awk '{print $3}')) on unix://${SOCK}, pid $(read_pid)"
    print_env
}

engine_down() {
    local pid i
    pid=$(read_pid)
    if [[ -z "$pid" ]] || ! is_running; then
        rm -f "$PID_FILE"
        log "the API service is not running"
        return 0
    fi
    kill -TERM "$pid" 2>/dev/null || true
    for i in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.2; done
    if kill -0 "$pid" 2>/dev/null; then
        log "pid ${pid} still runs after 10 s: SIGKILL"
        kill -KILL "$pid" 2>/dev/null || true
    fi
    rm -f "$PID_FILE" "$SOCK"
    log "stopped the API service (pid ${pid})"
}

have_image() { [[ "${REBUILD:-}" != 1 ]] && pm image exists "$1"; }

# base NAME TAR-INCLUDES [mmdebstrap options...]: a Debian bookworm root file system as an image.
base() {
    local name=$1 include=$2 t0 tar
    shift 2
    if have_image "$name"; then log "${name}: exists"; return 0; fi
    command -v mmdebstrap >/dev/null 2>&1 || die "mmdebstrap is not installed (run: $0 install)"
    t0=$(now)
    tar=$(mktemp -d)/rootfs.tar
    log "${name}: mmdebstrap bookworm (${include})"
    # The CAs this machine adds (a TLS-intercepting proxy's, for one) are trusted in the base
    # too, or a build step cannot fetch Go modules.
    local ca=()
    if compgen -G '/usr/local/share/ca-certificates/*.crt' >/dev/null; then
        ca=(--customize-hook='copy-in /usr/local/share/ca-certificates /usr/local/share'
            --customize-hook='chroot "$1" update-ca-certificates >/dev/null')
    fi
    mmdebstrap --quiet --variant=apt --include="$include" "${ca[@]}" "$@" bookworm "$tar" \
        || die "mmdebstrap failed for ${name}"
    pm import --change 'ENV PATH=/usr/local/go/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
        --change 'CMD ["/bin/bash"]' "$tar" "$name" >/dev/null
    rm -rf "$(dirname "$tar")"
    log "${name}: built in $(($(now) - t0)) s ($(pm image inspect --format '{{.Size}}' "$name" | awk '{printf "%d MB", $1/1e6}'))"
}

images() {
    command -v podman >/dev/null 2>&1 || die "podman is not installed (run: $0 install)"
    base "$JRE_IMAGE" ca-certificates,openjdk-17-jre-headless
    # Go 1.26 is not in bookworm: the builder gets this machine's toolchain (GOROOT).
    local goroot hooks
    goroot=$(go env GOROOT)
    hooks=(--customize-hook="copy-in ${goroot} /usr/local")
    [[ $(basename "$goroot") == go ]] \
        || hooks+=(--customize-hook="mv \"\$1/usr/local/$(basename "$goroot")\" \"\$1/usr/local/go\"")
    base "$GO_IMAGE" ca-certificates "${hooks[@]}"

    if have_image "$KAFKA_IMAGE"; then
        log "${KAFKA_IMAGE}: exists"
    else
        local t0 ctx
        t0=$(now)
        bash "${REPO}/integration/kafka/kafka.sh" fetch
        ctx=$(mktemp -d)
        cp -r "${SCRIPT_DIR}/kafka/." "$ctx/"
        cp -r "${KAFKA_HOME_DIR:-${HOME}/.cache/catering-match/kafka-4.1.1}/lib" "$ctx/libs"
        rm -f "$ctx/libs/.complete"
        pm build --quiet --format docker --network host --build-arg JRE_IMAGE="$JRE_IMAGE" \
            -t "$KAFKA_IMAGE" -f "$ctx/Containerfile" "$ctx" >/dev/null
        rm -rf "$ctx"
        log "${KAFKA_IMAGE}: built in $(($(now) - t0)) s"
    fi

    local t0
    t0=$(now)
    # Always rebuilt: it is the code under test. The go build cache mount keeps it quick.
    # --network host: the build fetches modules from the Go module proxy.
    pm build --quiet --format docker --network host \
        --build-arg BUILDER_IMAGE="$GO_IMAGE" --build-arg RUNTIME_IMAGE=scratch \
        --build-arg GOPROXY="$(go env GOPROXY)" \
        -t "$SERVICE_IMAGE" -f "${REPO}/Dockerfile" "$REPO" >/dev/null
    log "${SERVICE_IMAGE}: built in $(($(now) - t0)) s ($(pm image inspect --format '{{.Size}}' "$SERVICE_IMAGE" | awk '{printf "%.1f MB", $1/1e6}'))"
}

case "${1:-}" in
install) install ;;
engine-up) engine_up ;;
engine-down) engine_down ;;
images) images ;;
env) write_conf; print_env ;;
status) if is_running; then echo running; else echo "not running"; exit 3; fi ;;
podman) shift; pm "$@" ;;
*) sed -n '2,/^set -euo/p' "$0" | sed '$d' | sed 's/^# \{0,1\}//' >&2; exit 2 ;;
esac
