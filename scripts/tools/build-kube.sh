#!/usr/bin/env bash
# Build kube-apiserver and kube-controller-manager from the k8s.io/kubernetes Go module.
# Why a wrapper module: k8s.io/kubernetes points its k8s.io/* staging modules at v0.0.0 with local
# replace directives, which Go ignores in a dependency. The wrapper repeats those modules with
# replace directives to the matching published releases (v1.X.Y <-> v0.X.Y).
# Usage: build-kube.sh VERSION OUTDIR
set -euo pipefail
version="$1"; out="$2"
minor="v0.${version#v1.}"
work="$(mktemp -d)"; trap 'rm -rf "$work"' EXIT
export CGO_ENABLED=0 GOFLAGS=-mod=mod
echo "[build-kube] downloading k8s.io/kubernetes@$version"
gomod="$(go mod download -json "k8s.io/kubernetes@$version" | python3 -c 'import json,sys;print(json.load(sys.stdin)["GoMod"])')"
cd "$work"
{
  echo "module mpcs.local/kubebuild"
  echo
  echo "go $(awk '/^go /{print $2; exit}' "$gomod")"
  echo
  echo "require k8s.io/kubernetes $version"
  echo
  echo "replace ("
  grep -E '^\s+k8s\.io/[a-z0-9-]+ => \./staging/' "$gomod" | awk -v v="$minor" '{print "\t" $1 " => " $1 " " v}'
  echo ")"
} > go.mod
cat > tools.go <<'GO'
//go:build tools

package tools

import (
	_ "k8s.io/kubernetes/cmd/kube-apiserver"
	_ "k8s.io/kubernetes/cmd/kube-controller-manager"
)
GO
echo "[build-kube] resolving dependencies"
go mod tidy -e >/dev/null 2>&1 || true
go mod download
mkdir -p "$out"
for cmd in kube-apiserver kube-controller-manager; do
  echo "[build-kube] building $cmd (several minutes on 2 cores)"
  go build -trimpath -ldflags "-s -w -X k8s.io/component-base/version.gitVersion=$version -X k8s.io/component-base/version.gitMajor=1 -X k8s.io/component-base/version.gitMinor=$(echo "$version" | cut -d. -f2)" -o "$out/$cmd" "k8s.io/kubernetes/cmd/$cmd"
done
echo "[build-kube] done: $out"
