#!/usr/bin/env bash
# Build the Prometheus server from its Go module (github.com/prometheus/prometheus, whose Go
# versions v0.3XX.Y are the releases v3.XX.Y). CGO off: a static binary, no C toolchain needed.
# The release number is read from the module's own VERSION file and stamped into the binary, so
# `prometheus --version` names the release it is (the dev tools reuse a prometheus on PATH by it).
# The web UI's assets are not embedded (they need a Node build); the HTTP API needs none of them.
# Usage: build-prometheus.sh MODULE_VERSION OUTDIR
set -euo pipefail
version="$1"; out="$2"
module="github.com/prometheus/prometheus"
export CGO_ENABLED=0
echo "[build-prometheus] downloading $module@$version"
dir="$(go mod download -json "$module@$version" | python3 -c 'import json,sys;print(json.load(sys.stdin)["Dir"])')"
release="$(tr -d '[:space:]' < "$dir/VERSION")"
echo "[build-prometheus] resolving dependencies and building prometheus $release (7 to 13 minutes on 2 cores)"
mkdir -p "$out"
GOBIN="$out" go install -trimpath \
  -ldflags "-s -w -X github.com/prometheus/common/version.Version=$release -X github.com/prometheus/common/version.Branch=$version" \
  "$module/cmd/prometheus@$version"
echo "[build-prometheus] done: $("$out/prometheus" --version 2>&1 | head -1)"
