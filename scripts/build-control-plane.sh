#!/usr/bin/env bash
# Builds kube-apiserver, kubectl and etcd from the Go module proxy into a per-version cache outside the
# repository, so only the first run on a machine pays for the build. Prints the binary directory.
set -euo pipefail

K8S_VERSION="${GPUVM_K8S_VERSION:-v1.35.4}"
ETCD_VERSION="${GPUVM_ETCD_VERSION:-v3.6.16}"
CACHE_ROOT="${GPUVM_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/gpuvm-controller}"
BIN_DIR="$CACHE_ROOT/control-plane/k8s-$K8S_VERSION-etcd-$ETCD_VERSION/bin"

log() { echo "[control-plane] $*" >&2; }

if [[ -x "$BIN_DIR/kube-apiserver" && -x "$BIN_DIR/kubectl" && -x "$BIN_DIR/etcd" ]]; then
  echo "$BIN_DIR"
  exit 0
fi

command -v go >/dev/null || { log "go is required to build the control plane (see README)"; exit 1; }
export CGO_ENABLED=0 GOFLAGS=-mod=mod GOTOOLCHAIN=local
work="$CACHE_ROOT/control-plane/build-$K8S_VERSION-$ETCD_VERSION"
mkdir -p "$work/k8s" "$work/etcd" "$BIN_DIR.tmp"
start=$(date +%s)

# --- Kubernetes: k8s.io/kubernetes requires its staging modules at v0.0.0 and replaces them with
# in-tree paths; outside its tree every such module must be replaced by its published v0.<minor>.<patch>.
staging_version="v0.${K8S_VERSION#v1.}"
(
  cd "$work/k8s"
  rm -f go.mod go.sum
  go mod init gpuvm.io/control-plane-build >/dev/null 2>&1
  go mod download -json "k8s.io/kubernetes@$K8S_VERSION" >/dev/null
  upstream_mod="$(go env GOMODCACHE)/cache/download/k8s.io/kubernetes/@v/$K8S_VERSION.mod"
  staging=$(awk '$1 ~ /^k8s\.io\// && $2 == "v0.0.0" {print $1}' "$upstream_mod" | sort -u)
  [[ -n "$staging" ]] || { log "no staging modules found in $upstream_mod"; exit 1; }
  go mod edit -require="k8s.io/kubernetes@$K8S_VERSION"
  for m in $staging; do go mod edit -replace="$m=$m@$staging_version"; done
  go mod edit -tool=k8s.io/kubernetes/cmd/kube-apiserver -tool=k8s.io/kubernetes/cmd/kubectl
  log "resolving Kubernetes $K8S_VERSION modules ($(wc -w <<<"$staging") staging replacements)"
  go mod tidy >/dev/null
  minor="${K8S_VERSION#v1.}"; minor="${minor%%.*}"
  ldflags="-s -w"
  for pkg in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
    ldflags+=" -X $pkg.gitVersion=$K8S_VERSION -X $pkg.gitMajor=1 -X $pkg.gitMinor=$minor"
    ldflags+=" -X $pkg.gitTreeState=clean -X $pkg.buildDate=1970-01-01T00:00:00Z"
  done
  log "building kube-apiserver and kubectl $K8S_VERSION"
  go build -trimpath -ldflags "$ldflags" -o "$BIN_DIR.tmp/kube-apiserver" k8s.io/kubernetes/cmd/kube-apiserver
  go build -trimpath -ldflags "$ldflags" -o "$BIN_DIR.tmp/kubectl" k8s.io/kubernetes/cmd/kubectl
)

# --- etcd: a tiny main around etcdmain, the same entry point the etcd binary uses.
(
  cd "$work/etcd"
  rm -f go.mod go.sum
  go mod init gpuvm.io/etcd-build >/dev/null 2>&1
  cat > main.go <<'GO'
package main

import (
	"os"

	"go.etcd.io/etcd/server/v3/etcdmain"
)

func main() { etcdmain.Main(os.Args) }
GO
  go mod edit -require="go.etcd.io/etcd/server/v3@$ETCD_VERSION"
  log "building etcd $ETCD_VERSION"
  go mod tidy >/dev/null
  go build -trimpath -ldflags "-s -w -X go.etcd.io/etcd/api/v3/version.Version=${ETCD_VERSION#v}" -o "$BIN_DIR.tmp/etcd" .
)

rm -rf "$BIN_DIR"
mv "$BIN_DIR.tmp" "$BIN_DIR"
log "built in $(( $(date +%s) - start ))s -> $BIN_DIR"
echo "$BIN_DIR"
