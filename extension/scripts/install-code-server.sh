#!/usr/bin/env bash
# Installs code-server (VS Code in the browser, from npm) into $1 for the extension's UI test.
# Its postinstall builds native modules (needs the -dev packages that `make` installs with apt) and downloads
# ripgrep from GitHub; we seed ripgrep's download cache with Debian's `rg` so that only the npm registry is used.
set -euo pipefail

dest=$1
version=${CODE_SERVER_VERSION:-4.100.3} # 4.100.x runs on node 20, like the rest of the build
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

command -v rg >/dev/null || { echo "install-code-server: ripgrep (rg) is missing: apt-get install ripgrep" >&2; exit 1; }

# Which @vscode/ripgrep (and so which ripgrep build) this code-server's VS Code pins.
(cd "$work" && npm pack --silent "code-server@$version" >/dev/null)
tarball=$(ls "$work"/code-server-*.tgz)
read -r rg_pkg rg_build < <(tar -xzOf "$tarball" package/lib/vscode/npm-shrinkwrap.json | node -e '
  const lock = JSON.parse(require("fs").readFileSync(0, "utf8"));
  const v = lock.packages["node_modules/@vscode/ripgrep"].version;
  // @vscode/ripgrep 1.15.x downloads ripgrep-prebuilt v13.0.0-10 (lib/postinstall.js VERSION).
  console.log(v, "v13.0.0-10");')
arch=$(node -p 'process.arch === "arm64" ? "aarch64-unknown-linux-musl" : "x86_64-unknown-linux-musl"')
cache="$work/tmp/vscode-ripgrep-cache-$rg_pkg"
mkdir -p "$cache" "$work/rg"
cp "$(command -v rg)" "$work/rg/rg"
tar -czf "$cache/ripgrep-$rg_build-$arch.tar.gz" -C "$work/rg" rg

rm -rf "$dest"
mkdir -p "$dest"
TMPDIR="$work/tmp" npm_config_unsafe_perm=true npm_config_dangerously_allow_all_scripts=true npm_config_yes=true \
  npm install --prefix "$dest" --no-audit --no-fund --loglevel=error "$tarball"
test -x "$dest/node_modules/.bin/code-server"
