#!/usr/bin/env bash
# make test-containers: the black-box suite on testcontainers, over podman's Docker API where
# there is no Docker engine. Builds the images it needs (podman.sh images), starts the API
# service, runs the suite with the service image and compose tests, and stops what it started.
#
# Environment:
#   TESTS          a -run pattern for a subset (default: the whole suite)
#   GO_TEST_FLAGS  extra flags for go test (default: -race -count=1 -v -timeout 30m)
#   DOCKER_HOST    when it is set and answers, that engine is used as is (no podman service)
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."
P=integration/containers/podman.sh

own_engine=
if [[ -n "${DOCKER_HOST:-}" ]] && curl -fsS --max-time 2 --unix-socket "${DOCKER_HOST#unix://}" http://d/_ping >/dev/null 2>&1; then
    echo "test-containers: using the engine at DOCKER_HOST=${DOCKER_HOST}" >&2
else
    command -v podman >/dev/null 2>&1 || bash "$P" install
    own_engine=1
fi

cleanup() {
    local rc=$?
    if [[ -n "$own_engine" ]]; then
        # Containers a crashed test left behind (testcontainers' Ryuk is off here).
        local left
        left=$(bash "$P" podman ps -aq --filter label=org.testcontainers=true 2>/dev/null || true)
        [[ -z "$left" ]] || { echo "test-containers: removing leftover containers: $left" >&2; bash "$P" podman rm -f $left >/dev/null || true; }
        bash "$P" engine-down
    fi
    exit "$rc"
}
trap cleanup EXIT

if [[ -n "$own_engine" ]]; then
    bash "$P" images
    eval "$(bash "$P" engine-up)"
    # Containers an earlier, crashed run left behind hold ports the suite binds.
    left=$(bash "$P" podman ps -aq --filter label=org.testcontainers=true 2>/dev/null || true)
    [[ -z "$left" ]] || { echo "test-containers: removing containers an earlier run left: $left" >&2; bash "$P" podman rm -f $left >/dev/null || true; }
    export CATERING_IMAGE=${CATERING_IMAGE:-localhost/catering-match:dev}
    command -v podman-compose >/dev/null 2>&1 && export CATERING_COMPOSE=${CATERING_COMPOSE:-podman-compose}
else
    : "${CATERING_IMAGE:?set CATERING_IMAGE to the service image to test (docker build -t catering-match .)}"
fi
if (exec 3<>/dev/tcp/127.0.0.1/19095) 2>/dev/null; then
    echo "test-containers: something already listens on 127.0.0.1:19095, the broker container's port; stop it first" >&2
    exit 1
fi
# The suite picks testcontainers only without KAFKA_BROKERS, and here it must not fall back to
# the embedded broker.
unset KAFKA_BROKERS CATERING_IT_NO_DOCKER
export CATERING_IT_REQUIRE_CONTAINERS=1
# shellcheck disable=SC2086
go test ${GO_TEST_FLAGS:--race -count=1 -v -timeout 30m} -run "${TESTS:-.}" ./integration/...
