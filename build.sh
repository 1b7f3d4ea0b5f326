#!/usr/bin/env bash
# toxtunnel build: c-toxcore v0.2.22 + libsodium -> WebAssembly, then the TypeScript bundle.
#
#   ./build.sh            build what is missing or changed (incremental)
#   ./build.sh --clean    forget every build product and start over
#
# Sources are pinned and hash-checked. They come from (first that works):
#   1. the download cache ($TOXTUNNEL_CACHE, default ~/.cache/toxtunnel-build)
#   2. Debian's source packages (`apt-get source`, needs a deb-src entry for sid)
#   3. vendor/debian/ in this repository (the same files, for offline machines and for the
#      day Debian's pool drops these versions)
# toxcore-submodule/ is a git submodule of upstream c-toxcore at the pinned commit; where
# upstream is unreachable it is filled from Debian's libtoxcore orig tarball of the same
# release (plus Debian's cmp.patch, which supplies third_party/cmp).
set -euo pipefail
cd "$(dirname "$0")"
ROOT=$PWD

TOXCORE_VERSION=0.2.22
TOXCORE_COMMIT=da26052603369045dceb5dfc8c89919b222d0ce0
TOXCORE_DEB=libtoxcore=0.2.22-1
TOXCORE_ORIG=libtoxcore_0.2.22.orig.tar.xz
TOXCORE_ORIG_SHA256=21ccec45c85afae03cdad48642756b28d6b7632715cfa5d901cc63fcb0a170c1
TOXCORE_DEBIAN=libtoxcore_0.2.22-1.debian.tar.xz
TOXCORE_DEBIAN_SHA256=ac1be24aa9a76acfa744c38a5b826c03bbdb184741e2b6e04a6f23a239455f71
SODIUM_DEB=libsodium=1.0.22-2
SODIUM_ORIG=libsodium_1.0.22.orig.tar.gz
SODIUM_ORIG_SHA256=5838bb0c3da6148c24ebe531d1ed1297de9a87aea77d426bcd99f289e681631c

CACHE=${TOXTUNNEL_CACHE:-$HOME/.cache/toxtunnel-build}
BUILD=$ROOT/build
T0=$(date +%s%N)

say() { local ms=$((($(date +%s%N) - T0) / 1000000)); printf '[build %4d.%01ds] %s\n' $((ms / 1000)) $((ms % 1000 / 100)) "$*"; }
die() { printf 'build.sh: error: %s\n' "$*" >&2; exit 1; }

if [[ ${1:-} == --clean ]]; then
  rm -rf "$BUILD" dist toxcore-submodule/* toxcore-submodule/.[!.]* 2>/dev/null || true
  say "cleaned build/, dist/ and toxcore-submodule/"
fi

# --- tools -----------------------------------------------------------------------------------
need_apt=()
command -v emcc >/dev/null || need_apt+=(emscripten)
command -v patch >/dev/null || need_apt+=(patch)
command -v xz >/dev/null || need_apt+=(xz-utils)
command -v make >/dev/null || need_apt+=(make)
if ((${#need_apt[@]})); then
  echo "build.sh: installing ${need_apt[*]} from Debian" >&2
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need_apt[@]}" >/dev/null
fi
command -v node >/dev/null || die "Node.js >= 20 is needed to build (and to run)."
# Debian's emcc needs Debian's acorn for its JS optimizer, and must not see Node 20's fetch.
export NODE_PATH=/usr/share/nodejs
export NODE_OPTIONS=--no-experimental-fetch
export EM_CACHE=$CACHE/emscripten-cache
mkdir -p "$CACHE" "$BUILD" "$EM_CACHE"
if [[ ! -d $EM_CACHE/sysroot ]] && [[ -d /usr/share/emscripten/cache/sysroot ]]; then
  cp -r /usr/share/emscripten/cache/. "$EM_CACHE/"
fi

# --- sources ---------------------------------------------------------------------------------
sha_ok() { [[ -f $1 ]] && [[ $(sha256sum "$1" | cut -d' ' -f1) == "$2" ]]; }

# fetch FILE SHA256 APT_SPEC: put a verified copy of FILE into the cache.
fetch() {
  local file=$1 sum=$2 spec=$3
  sha_ok "$CACHE/$file" "$sum" && return 0
  local tmp
  tmp=$(mktemp -d)
  if (cd "$tmp" && apt-get source --download-only -qq "$spec" >/dev/null 2>&1) && sha_ok "$tmp/$file" "$sum"; then
    mv "$tmp/$file" "$CACHE/$file"
    say "fetched $file from Debian ($spec), sha256 verified"
  elif sha_ok "vendor/debian/$file" "$sum"; then
    cp "vendor/debian/$file" "$CACHE/$file"
    say "took $file from vendor/debian/ (Debian's pool did not serve it), sha256 verified"
  else
    rm -rf "$tmp"
    die "cannot get $file with sha256 $sum: not in $CACHE, not from 'apt-get source $spec' (needs a deb-src line for sid), not in vendor/debian/"
  fi
  rm -rf "$tmp"
}

fetch "$TOXCORE_ORIG" "$TOXCORE_ORIG_SHA256" "$TOXCORE_DEB"
fetch "$TOXCORE_DEBIAN" "$TOXCORE_DEBIAN_SHA256" "$TOXCORE_DEB"
fetch "$SODIUM_ORIG" "$SODIUM_ORIG_SHA256" "$SODIUM_DEB"

# toxcore-submodule/: a real checkout (has .git) is used as it is, if at the pinned commit.
if [[ -e toxcore-submodule/.git ]]; then
  head=$(git -C toxcore-submodule rev-parse HEAD)
  [[ $head == "$TOXCORE_COMMIT" ]] || die "toxcore-submodule is at $head, expected $TOXCORE_COMMIT"
  [[ -f toxcore-submodule/third_party/cmp/cmp.c ]] || die "toxcore-submodule lacks third_party/cmp: run 'git submodule update --init --recursive'"
elif [[ ! -f toxcore-submodule/.toxtunnel-filled ]] || [[ $(cat toxcore-submodule/.toxtunnel-filled) != "$TOXCORE_ORIG_SHA256" ]]; then
  rm -rf toxcore-submodule && mkdir toxcore-submodule
  tar -xJf "$CACHE/$TOXCORE_ORIG" -C toxcore-submodule --strip-components=1
  tar -xJf "$CACHE/$TOXCORE_DEBIAN" -C "$BUILD" debian/patches/cmp.patch
  patch -s -d toxcore-submodule -p1 < "$BUILD/debian/patches/cmp.patch"
  echo "$TOXCORE_ORIG_SHA256" > toxcore-submodule/.toxtunnel-filled
  say "filled toxcore-submodule/ from $TOXCORE_ORIG (+ Debian cmp.patch)"
fi

# --- libsodium -------------------------------------------------------------------------------
SODIUM_FLAGS="--disable-shared --enable-static --without-pthreads --disable-ssp --disable-asm --disable-pie"
# -O3, not -Os: every packet goes through XSalsa20-Poly1305, and at -Os clang leaves the tiny
# helpers of the portable implementations (rotl32, load/store32_le) as calls, which V8 does not
# inline across wasm functions: sealing a 1.4 kB packet cost ~17 ms per MB, at -O3 ~3.5.
SODIUM_CFLAGS="-O3"
SODIUM_KEY="$SODIUM_ORIG_SHA256 $SODIUM_FLAGS $SODIUM_CFLAGS emcc-3.1.6"
SODIUM_PREFIX=$CACHE/libsodium-$(echo "$SODIUM_KEY" | sha256sum | cut -c1-16)
if [[ ! -f $SODIUM_PREFIX/lib/libsodium.a ]]; then
  say "building libsodium (about 90 s, once: cached in $SODIUM_PREFIX)"
  # Outside the project: our package.json says "type": "module", which would make node run
  # configure's conftest programs as ES modules (and fail).
  src=$CACHE/libsodium-src
  rm -rf "$src" && mkdir -p "$src"
  tar -xzf "$CACHE/$SODIUM_ORIG" -C "$src" --strip-components=1
  (
    cd "$src"
    # shellcheck disable=SC2086
    CFLAGS="$SODIUM_CFLAGS" emconfigure ./configure --prefix="$SODIUM_PREFIX.tmp" $SODIUM_FLAGS >"$BUILD/libsodium-configure.log" 2>&1 \
      || die "libsodium configure failed, see $BUILD/libsodium-configure.log"
    emmake make -j"$(nproc)" install >"$BUILD/libsodium-make.log" 2>&1 \
      || die "libsodium build failed, see $BUILD/libsodium-make.log"
  )
  rm -rf "$SODIUM_PREFIX" && mv "$SODIUM_PREFIX.tmp" "$SODIUM_PREFIX"
  rm -rf "$src"
  say "libsodium built"
fi

# --- toxcore + glue -> wasm ------------------------------------------------------------------
make -s -f wasm/Makefile -j"$(nproc)" TOXCORE=toxcore-submodule SODIUM="$SODIUM_PREFIX" OUT="$BUILD/wasm" \
  | sed 's/^/  /'
say "wasm: $(stat -c %s "$BUILD/wasm/toxcore.wasm") bytes ($(gzip -9c "$BUILD/wasm/toxcore.wasm" | wc -c) gzipped)"

# --- TypeScript bundle -----------------------------------------------------------------------
if [[ ! -d node_modules/esbuild ]] || [[ package-lock.json -nt node_modules/.package-lock.json ]]; then
  say "installing npm dependencies"
  npm ci --no-audit --no-fund --loglevel=error
fi
node scripts/bundle.mjs
say "done"
