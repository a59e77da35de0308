#!/usr/bin/env bash
# supervisord program `kafka`: single-node KRaft broker+controller in the foreground.
# Formats the storage on first start (stable cluster id kept in .data/kafka/cluster.id,
# `admin` SCRAM credential added at format time).
. "$(dirname "$0")/common.sh"

KAFKA_LIBS="$DOWNLOADS/kafka-$KAFKA_VERSION/libs"
[ -f "$KAFKA_LIBS/kafka_${KAFKA_SCALA_VERSION}-${KAFKA_VERSION}.jar" ] \
  || die "Kafka is not installed in $KAFKA_LIBS: run infra/local/stack install"

KAFKA_DATA="$DATA/kafka"
mkdir -p "$KAFKA_DATA/log"
CONFIG="$KAFKA_DATA/server.properties"
sed -e "s|@KAFKA_DATA@|$KAFKA_DATA|g" \
    -e "s|@KAFKA_INTERNAL_PORT@|$KAFKA_INTERNAL_PORT|g" \
    -e "s|@KAFKA_EXTERNAL_PORT@|$KAFKA_EXTERNAL_PORT|g" \
    -e "s|@KAFKA_CONTROLLER_PORT@|$KAFKA_CONTROLLER_PORT|g" \
    "$XINYU_LOCAL/kafka/server.properties.in" > "$CONFIG"

JAVA="${KAFKA_JAVA_HOME:+$KAFKA_JAVA_HOME/bin/}java"
# Small heap, serial-ish footprint: memory is fine, CPU is scarce (2 cores).
JVM_OPTS=(
  -Xms256m -Xmx512m
  -XX:+UseG1GC -XX:MaxGCPauseMillis=20 -XX:InitiatingHeapOccupancyPercent=35
  -XX:+ExplicitGCInvokesConcurrent -XX:ParallelGCThreads=2 -XX:ConcGCThreads=1
  -XX:CICompilerCount=2
  -Djava.awt.headless=true
  -Dlog4j2.configurationFile="$XINYU_LOCAL/kafka/log4j2.properties"
  -Dkafka.logs.dir="$DATA/logs"
  -cp "$KAFKA_LIBS/*"
)

if [ ! -f "$KAFKA_DATA/log/meta.properties" ]; then
  if [ ! -s "$KAFKA_DATA/cluster.id" ]; then
    # a Kafka Uuid: 16 random bytes, base64url without padding, not starting with '-'
    while :; do
      id="$(head -c 16 /dev/urandom | base64 | tr '+/' '-_' | tr -d '=')"
      [ "${id:0:1}" != "-" ] && break
    done
    printf '%s\n' "$id" > "$KAFKA_DATA/cluster.id"
  fi
  log "formatting $KAFKA_DATA/log with cluster id $(cat "$KAFKA_DATA/cluster.id")"
  "$JAVA" "${JVM_OPTS[@]}" -Xmx256m kafka.tools.StorageTool format \
    --config "$CONFIG" --cluster-id "$(cat "$KAFKA_DATA/cluster.id")" --ignore-formatted \
    --add-scram 'SCRAM-SHA-512=[name=admin,password=dev-kafka-admin]'
fi

exec "$JAVA" "${JVM_OPTS[@]}" kafka.Kafka "$CONFIG"
