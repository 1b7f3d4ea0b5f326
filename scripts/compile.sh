#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-3.0-or-later
# One self-contained executable per platform: `bun build --compile` of dist/toxtunnel.mjs
# (which already embeds the wasm as base64, so there are no assets to carry) with the bun
# pinned in devDependencies. Nothing needs to be installed where the executable runs.
#
#   scripts/compile.sh                     the host's platform -> dist/toxtunnel-<os>-<arch>
#   scripts/compile.sh linux-arm64 ...     other platforms (cross-compiled, see below)
#   scripts/compile.sh --out DIR [...]     write into DIR instead of dist/
#
# Targets: linux-x64 linux-x64-baseline linux-x64-musl linux-arm64 linux-arm64-musl
#          darwin-x64 darwin-arm64 windows-x64 windows-arm64 (only linux-x64 and linux-arm64
#          are exercised by the tests and scripts/arm64-check.sh).
# A cross target needs bun's runtime for that platform: it is the npm package
# @oven/bun-<os>-<arch>@<our bun's version>, fetched once with `npm pack` (the npm registry,
# integrity-checked by npm) into $TOXTUNNEL_CACHE/bun-<version>/ and handed to bun with
# --compile-executable-path, so bun itself never downloads anything.
#
# The executables do not read .env or bunfig.toml from the directory they are started in
# (bun's defaults would: an .env there could set TOXTUNNEL_* variables behind our back).
#
# Note: dist/ is in package.json "files"; an executable left in dist/ would go into `npm pack`
# (100+ MB). Use --out, or delete them before packing.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
BUN=$ROOT/node_modules/.bin/bun
ENTRY=$ROOT/dist/toxtunnel.mjs
CACHE=${TOXTUNNEL_CACHE:-$HOME/.cache/toxtunnel-build}
OUT=$ROOT/dist
COMPILE_TIMEOUT=${TOXTUNNEL_COMPILE_TIMEOUT:-300}
FETCH_TIMEOUT=${TOXTUNNEL_FETCH_TIMEOUT:-300}

die() { printf 'compile.sh: error: %s\n' "$*" >&2; exit 1; }

targets=()
while (($#)); do
  case $1 in
    --out) [[ $# -ge 2 ]] || die "--out needs a directory"; OUT=$2; shift 2 ;;
    --out=*) OUT=${1#--out=}; shift ;;
    -h|--help) sed -n '3,23p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    -*) die "unknown option $1 (see --help)" ;;
    *) targets+=("$1"); shift ;;
  esac
done

[[ -x $BUN ]] || die "no bun in node_modules: run 'npm ci' (bun is a devDependency)"
[[ -f $ENTRY ]] || die "no $ENTRY: run ./build.sh first"
BUN_VERSION=$("$BUN" --version)
VERSION=$(node -p 'require("./package.json").version')

host_target() {
  local os arch
  case $(uname -s) in
    Linux) os=linux ;;
    Darwin) os=darwin ;;
    MINGW*|MSYS*|CYGWIN*) os=windows ;;
    *) die "unknown host OS $(uname -s)" ;;
  esac
  case $(uname -m) in
    x86_64|amd64) arch=x64 ;;
    aarch64|arm64) arch=arm64 ;;
    *) die "bun has no build for $(uname -m)" ;;
  esac
  echo "$os-$arch"
}
HOST=$(host_target)
((${#targets[@]})) || targets=("$HOST")

# our target name -> npm package holding bun's runtime for it
bun_package() {
  case $1 in
    linux-x64|linux-x64-baseline|linux-x64-musl|darwin-x64|windows-x64) echo "@oven/bun-$1" ;;
    linux-arm64|linux-arm64-musl|darwin-arm64|windows-arm64) echo "@oven/bun-${1/arm64/aarch64}" ;;
    *) die "unknown target '$1' (see --help)" ;;
  esac
}

# cross_runtime TARGET: path of bun's runtime binary for TARGET (fetched once, cached)
cross_runtime() {
  local pkg dir exe tgz
  pkg=$(bun_package "$1")
  exe=bin/bun
  [[ $1 == windows-* ]] && exe=bin/bun.exe
  if [[ -f $ROOT/node_modules/$pkg/$exe ]]; then echo "$ROOT/node_modules/$pkg/$exe"; return; fi
  dir=$CACHE/bun-$BUN_VERSION/${pkg#@oven/}
  if [[ ! -f $dir/package/$exe ]]; then
    mkdir -p "$dir"
    printf 'compile.sh: fetching %s@%s from the npm registry (once)\n' "$pkg" "$BUN_VERSION" >&2
    tgz=$(cd "$dir" && timeout "$FETCH_TIMEOUT" npm pack --silent "$pkg@$BUN_VERSION") \
      || die "could not fetch $pkg@$BUN_VERSION with npm pack (npm registry unreachable?)"
    rm -rf "$dir/package"
    tar -xzf "$dir/$tgz" -C "$dir" && rm -f "$dir/$tgz"
    chmod +x "$dir/package/$exe"
  fi
  echo "$dir/package/$exe"
}

mkdir -p "$OUT"
for target in "${targets[@]}"; do
  bun_package "$target" >/dev/null
  out=$OUT/toxtunnel-$target
  [[ $target == windows-* ]] && out=$out.exe
  args=(build --compile --no-compile-autoload-dotenv --no-compile-autoload-bunfig --outfile "$out")
  if [[ $target != "$HOST" ]]; then
    args+=(--target "bun-${target}" --compile-executable-path "$(cross_runtime "$target")")
  fi
  started=$(date +%s%N)
  rm -f "$out"
  log=$(timeout "$COMPILE_TIMEOUT" "$BUN" "${args[@]}" "$ENTRY" 2>&1) || die "bun build --compile for $target failed or took over ${COMPILE_TIMEOUT} s:
$log"
  [[ -s $out ]] || die "bun build --compile wrote no $out:
$log"
  ms=$((($(date +%s%N) - started) / 1000000))
  size=$(stat -c %s "$out" 2>/dev/null || stat -f %z "$out")
  check=""
  if [[ $target == "$HOST" ]]; then
    # Same platform: run it once (from an empty directory, so nothing around it can help).
    got=$(cd / && timeout 30 "$out" --version 2>&1) || die "$out --version failed: $got"
    [[ $got == "toxtunnel/$VERSION "* ]] || die "$out --version printed '$got', expected toxtunnel/$VERSION"
    check=", runs: $got"
  fi
  printf '%s: %d bytes (%d MiB), bun %s, %d ms%s\n' "${out#"$ROOT"/}" "$size" $((size / 1048576)) "$BUN_VERSION" "$ms" "$check"
done
