#!/usr/bin/env bash
# Build InfluxDB 2 (influxd) from the Go module github.com/influxdata/influxdb/v2.
# Flux needs its Rust core libflux: Go's cgo asks `pkg-config flux`, and InfluxData's own pkg-config
# (github.com/influxdata/pkg-config) answers by building libflux with cargo into the Go build cache.
# Usage: build-influxd.sh VERSION OUTDIR
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
version="$1"; out="$2"
work="$(mktemp -d)"; trap 'rm -rf "$work"' EXIT
gomod="$(go mod download -json "github.com/influxdata/influxdb/v2@$version" | python3 -c 'import json,sys;print(json.load(sys.stdin)["GoMod"])')"
pkgcfg_version="$(awk '$1=="github.com/influxdata/pkg-config"{print $2; exit}' "$gomod")"
echo "[build-influxd] building InfluxData pkg-config $pkgcfg_version"
GOBIN="$work/bin" go install "github.com/influxdata/pkg-config@$pkgcfg_version"
cd "$work"
cat > go.mod <<MOD
module mpcs.local/influxbuild

go $(awk '/^go /{print $2; exit}' "$gomod")

require github.com/influxdata/influxdb/v2 $version
MOD
cat > tools.go <<'GO'
//go:build tools

package tools

import _ "github.com/influxdata/influxdb/v2/cmd/influxd"
GO
# The module's own replace directives are ignored in a dependency; copy them.
awk '/^replace \(/{f=1;next} f&&/^\)/{f=0} f{print "replace " $0} /^replace [^(]/{print}' "$gomod" >> go.mod
echo "[build-influxd] resolving dependencies"
GOFLAGS=-mod=mod go mod tidy -e >/dev/null 2>&1 || true
export PKG_CONFIG="$work/bin/pkg-config" CGO_ENABLED=1 RUSTUP_TOOLCHAIN="${RUSTUP_TOOLCHAIN:-stable}"
export RUSTC_WRAPPER="$here/rustc-cap-lints"  # see that file
mkdir -p "$out"
echo "[build-influxd] building influxd + libflux (Rust) — the longest step, 10+ minutes on 2 cores"
GOFLAGS=-mod=mod go build -trimpath -tags sqlite_foreign_keys,sqlite_json \
  -ldflags "-s -w -X main.version=$version -X main.commit=mpcs-build" \
  -o "$out/influxd" github.com/influxdata/influxdb/v2/cmd/influxd
echo "[build-influxd] done: $out/influxd"
