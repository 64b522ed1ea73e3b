#!/usr/bin/env bash
# Builds helm from the Go module proxy into the same per-version cache as the control plane, so only the first
# run on a machine pays for the build. Prints the path of the helm binary.
set -euo pipefail

HELM_VERSION="${GPUVM_HELM_VERSION:-v3.22.0}"
CACHE_ROOT="${GPUVM_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/gpuvm-controller}"
BIN_DIR="$CACHE_ROOT/helm/helm-$HELM_VERSION/bin"

log() { echo "[helm] $*" >&2; }

if [[ -x "$BIN_DIR/helm" ]]; then
  echo "$BIN_DIR/helm"
  exit 0
fi

command -v go >/dev/null || { log "go is required to build helm (see README)"; exit 1; }
export CGO_ENABLED=0 GOFLAGS=-mod=mod GOTOOLCHAIN=local
work="$CACHE_ROOT/helm/build-$HELM_VERSION"
start=$(date +%s)

# Build inside helm's own module (a writable copy of the downloaded source) so its go.mod decides every
# dependency version, exactly as helm's release build does.
log "downloading helm.sh/helm/v3@$HELM_VERSION"
src=$(go mod download -json "helm.sh/helm/v3@$HELM_VERSION" | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p')
[[ -n "$src" && -d "$src" ]] || { log "could not download helm.sh/helm/v3@$HELM_VERSION"; exit 1; }
rm -rf "$work" "$BIN_DIR.tmp"
mkdir -p "$(dirname "$work")" "$BIN_DIR.tmp"
cp -r "$src" "$work"
chmod -R u+w "$work"

log "building helm $HELM_VERSION"
(
  cd "$work"
  go build -trimpath \
    -ldflags "-s -w -X helm.sh/helm/v3/internal/version.version=$HELM_VERSION -X helm.sh/helm/v3/internal/version.gitTreeState=clean" \
    -o "$BIN_DIR.tmp/helm" ./cmd/helm
)

rm -rf "$BIN_DIR" "$work"
mv "$BIN_DIR.tmp" "$BIN_DIR"
log "built in $(( $(date +%s) - start ))s -> $BIN_DIR/helm"
echo "$BIN_DIR/helm"
