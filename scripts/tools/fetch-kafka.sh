#!/usr/bin/env bash
# Fetch the Apache Kafka broker (Scala 2.13 build) and its runtime dependencies from Maven Central.
# There is no tarball route without internet; the jars are the same ones the release ships.
# Usage: fetch-kafka.sh VERSION OUTDIR
set -euo pipefail
version="$1"; out="$2"
work="$(mktemp -d)"; trap 'rm -rf "$work"' EXIT
cat > "$work/pom.xml" <<POM
<project xmlns="http://maven.apache.org/POM/4.0.0">
  <modelVersion>4.0.0</modelVersion>
  <groupId>io.mpcs.local</groupId><artifactId>kafka-fetch</artifactId><version>1</version>
  <packaging>pom</packaging>
  <dependencies>
    <dependency><groupId>org.apache.kafka</groupId><artifactId>kafka_2.13</artifactId><version>$version</version></dependency>
    <dependency><groupId>org.apache.kafka</groupId><artifactId>kafka-tools</artifactId><version>$version</version></dependency>
    <dependency><groupId>org.slf4j</groupId><artifactId>slf4j-reload4j</artifactId><version>1.7.36</version></dependency>
  </dependencies>
</project>
POM
echo "[fetch-kafka] resolving org.apache.kafka:kafka_2.13:$version and its runtime dependencies"
mkdir -p "$out/libs"
mvn -B -q -f "$work/pom.xml" dependency:copy-dependencies -DincludeScope=runtime -DoutputDirectory="$out/libs"
echo "[fetch-kafka] done: $(ls "$out/libs" | wc -l) jars in $out/libs"
