#!/bin/bash
# Entry point: write server.properties from the KAFKA_* environment, format the storage once
# (CLUSTER_ID), then run the broker in the foreground, logging to the console.
set -euo pipefail
props=/opt/kafka/config/server.properties
data=/var/lib/kafka/data

# The apache/kafka image's defaults: one node, broker and controller.
declare -A p=(
    [process.roles]=broker,controller
    [node.id]=1
    [listeners]=PLAINTEXT://:9092,CONTROLLER://:9093
    [advertised.listeners]=PLAINTEXT://localhost:9092
    [controller.listener.names]=CONTROLLER
    [listener.security.protocol.map]=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT
    [controller.quorum.voters]=1@localhost:9093
    [log.dirs]=$data
    [offsets.topic.replication.factor]=1
    [transaction.state.log.replication.factor]=1
    [transaction.state.log.min.isr]=1
    [share.coordinator.state.topic.replication.factor]=1
    [share.coordinator.state.topic.min.isr]=1
    [group.initial.rebalance.delay.ms]=0
)
# JVM settings, not properties.
skip=" KAFKA_HEAP_OPTS KAFKA_JVM_PERFORMANCE_OPTS KAFKA_OPTS KAFKA_LOG4J_OPTS KAFKA_JMX_OPTS KAFKA_VERSION KAFKA_HOME "
for var in $(compgen -e); do
    [[ $var == KAFKA_* && $skip != *" $var "* ]] || continue
    key=${var#KAFKA_}
    key=${key,,}
    key=${key//___/-}
    key=${key//__/@}
    key=${key//_/.}
    key=${key//@/_}
    p[$key]=${!var}
done
# A bootstrap-servers quorum is dynamic: it must not also name static voters.
if [[ -n "${p[controller.quorum.bootstrap.servers]:-}" && -z "${KAFKA_CONTROLLER_QUORUM_VOTERS:-}" ]]; then
    unset 'p[controller.quorum.voters]'
fi
: >"$props"
for k in "${!p[@]}"; do printf '%s=%s\n' "$k" "${p[$k]}" >>"$props"; done
sort -o "$props" "$props"

cp="/opt/kafka/libs/*"
log4j=-Dlog4j2.configurationFile=/opt/kafka/config/log4j2.properties
if [[ ! -f "${p[log.dirs]%%,*}/meta.properties" ]]; then
    tool=/opt/kafka/bin/kafka-storage.sh
    id=${CLUSTER_ID:-$("$tool" random-uuid)}
    args=(format -t "$id" -c "$props" --ignore-formatted)
    [[ -n "${p[controller.quorum.voters]:-}" ]] || args+=(--standalone)
    "$tool" "${args[@]}"
fi
# shellcheck disable=SC2086
exec java ${KAFKA_HEAP_OPTS:--Xms256m -Xmx1g} -XX:+UseG1GC -Djava.awt.headless=true \
    ${KAFKA_OPTS:-} "$log4j" -cp "$cp" kafka.Kafka "$props"
