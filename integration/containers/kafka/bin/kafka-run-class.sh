#!/bin/bash
# kafka-run-class.sh MAIN-CLASS [ARGS...]: a Kafka tool on the broker's classpath, logging
# warnings to stderr.
exec java -Xmx256m -Dlog4j2.configurationFile=/opt/kafka/config/log4j2.properties \
    -Dlog4j2.rootLevel=WARN -Dlog4j2.target=SYSTEM_ERR -cp "/opt/kafka/libs/*" "$@"
