#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-3.0-or-later
# toxtunnel on arm64 (aarch64) without an arm64 machine and without an arm64 build: the very
# same dist/toxtunnel.mjs, run by an arm64 Node.js under qemu-user, and the bun-compiled
# arm64 executable (scripts/compile.sh linux-arm64), including real tunnels against x86 peers.
#
#   scripts/arm64-check.sh            set up (once, cached) and run every check
#
# What it uses (idempotent; a second run only re-runs the checks):
#   - qemu-user (apt-get install qemu-user if missing; no binfmt registration is needed or
#     made: binaries are run as `qemu-aarch64 -L SYSROOT ...`)
#   - Debian's arm64 nodejs and its shared libraries, from Debian's archive through a private
#     apt state (arm64 only) in $TOXTUNNEL_CACHE/arm64 (default ~/.cache/toxtunnel-build/arm64),
#     extracted with dpkg -x into a sysroot there. The system's dpkg/apt configuration is
#     not touched (no `dpkg --add-architecture`). Debian 13 (trixie)'s nodejs 20 is used:
#     Debian 12's nodejs is 18, below our engines (>= 20) and indeed unable to run toxtunnel
#     (no global CustomEvent nor crypto.getRandomValues in ESM).
#   - bun's arm64 runtime (@oven/bun-linux-aarch64, from the npm registry, via compile.sh).
#   - the native tox-bootstrapd (toxcore-utils) and Node on the host, as the e2e tests.
# Network: Debian's archive and the npm registry (first run), then loopback only; every
# toxtunnel runs with bootstrap_mode: none against a local tox-bootstrapd.
# Fixed ports 29780-29796 (test/e2e/distribution.test.ts uses 29700-29779); TCP services and
# forwards listen on kernel-picked ports.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
CACHE=${TOXTUNNEL_CACHE:-$HOME/.cache/toxtunnel-build}/arm64
SUITE=trixie
T0=$(date +%s%N)
say() { local ms=$((($(date +%s%N) - T0) / 1000000)); printf '[arm64 %4d.%01ds] %s\n' $((ms / 1000)) $((ms % 1000 / 100)) "$*"; }
die() { printf 'arm64-check.sh: error: %s\n' "$*" >&2; exit 1; }
# timed WHAT CMD...: runs CMD (bounded by the caller's timeout), prints its time and output
timed() {
  local what=$1 s out rc=0
  shift
  s=$(date +%s%N)
  out=$("$@" 2>&1) || rc=$?
  printf '  %-44s %6d ms  %s\n' "$what" $((($(date +%s%N) - s) / 1000000)) "$(tail -n1 <<<"$out")"
  ((rc == 0)) || die "$what failed (exit $rc): $out"
}

[[ -f dist/toxtunnel.mjs ]] || die "no dist/toxtunnel.mjs: run ./build.sh first"
command -v tox-bootstrapd >/dev/null || die "no tox-bootstrapd: apt-get install toxcore-utils"
if ! command -v qemu-aarch64 >/dev/null; then
  say "installing qemu-user from Debian"
  DEBIAN_FRONTEND=noninteractive timeout 600 apt-get install -y -qq --no-install-recommends -o DPkg::Lock::Timeout=120 qemu-user >/dev/null \
    || die "could not install qemu-user (apt-get install qemu-user, as root)"
fi

# --- arm64 Node.js from Debian, in a sysroot ---------------------------------------------------
APT=$CACHE/apt-$SUITE
SYSROOT=$CACHE/sysroot-$SUITE
mkdir -p "$APT/lists/partial" "$APT/archives/partial"
[[ -f $APT/status ]] || : >"$APT/status"
cat >"$APT/sources.list" <<EOF
deb [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] http://deb.debian.org/debian $SUITE main
deb [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] http://deb.debian.org/debian-security $SUITE-security main
EOF
apt_opts=(
  -o APT::Architecture=arm64 -o APT::Architectures::=arm64
  -o Dir::State::Lists="$APT/lists" -o Dir::State::status="$APT/status"
  -o Dir::Cache="$APT" -o Dir::Cache::archives="$APT/archives"
  -o Dir::Etc::SourceList="$APT/sources.list" -o Dir::Etc::SourceParts=/nonexistent
  -o Debug::NoLocking=1 -o APT::Sandbox::User=root -qq
)
if [[ ! -f $SYSROOT/.complete ]]; then
  say "fetching Debian $SUITE's arm64 nodejs and its libraries (private apt state in $APT)"
  timeout 300 apt-get "${apt_opts[@]}" update >/dev/null || die "apt-get update (arm64, $SUITE) failed: is deb.debian.org reachable?"
  timeout 600 apt-get "${apt_opts[@]}" install -y --download-only --no-install-recommends nodejs >/dev/null \
    || die "downloading nodejs:arm64 and its dependencies failed"
  rm -rf "$SYSROOT" && mkdir -p "$SYSROOT"
  for deb in "$APT"/archives/*.deb; do dpkg -x "$deb" "$SYSROOT"; done
  # trixie is merged-/usr: the loader is looked up as /lib/ld-linux-aarch64.so.1
  [[ -e $SYSROOT/lib ]] || ln -s usr/lib "$SYSROOT/lib"
  (cd "$APT/archives" && ls ./*.deb) >"$SYSROOT/.complete"
  say "sysroot ready: $(du -sh "$SYSROOT" | cut -f1), $(wc -l <"$SYSROOT/.complete") packages"
fi
# is_arm64 FILE: an ELF whose e_machine (bytes 18-19) is 183, EM_AARCH64
is_arm64() { [[ $(od -An -tu2 -j18 -N2 "$1" | tr -d ' ') == 183 ]]; }
NODE64=(qemu-aarch64 -L "$SYSROOT" "$SYSROOT/usr/bin/node")
is_arm64 "$SYSROOT/usr/bin/node" || die "$SYSROOT/usr/bin/node is not an arm64 binary"

WORK=$(mktemp -d "${TMPDIR:-/tmp}/toxtunnel-arm64.XXXXXX")
trap 'rm -rf "$WORK"' EXIT

say "arm64 Node.js (qemu-user) running dist/toxtunnel.mjs"
timed "node -p process.version, process.arch" timeout 120 "${NODE64[@]}" -p 'process.version + " " + process.arch'
timed "toxtunnel --version" timeout 120 "${NODE64[@]}" dist/toxtunnel.mjs --version
timed "toxtunnel print-id (new identity)" timeout 120 "${NODE64[@]}" dist/toxtunnel.mjs print-id -d "$WORK/node64-id"
x86_id=$(node dist/toxtunnel.mjs print-id -d "$WORK/node64-id" | grep -oE '[0-9A-F]{76}')
arm_id=$(timeout 120 "${NODE64[@]}" dist/toxtunnel.mjs print-id -d "$WORK/node64-id" | grep -oE '[0-9A-F]{76}')
[[ $x86_id == "$arm_id" ]] || die "x86 and arm64 read different Tox IDs from the same tox_save.dat: $x86_id / $arm_id"
echo "  the same tox_save.dat gives the same Tox ID on x86 and arm64: $arm_id"

say "bun-compiled arm64 executable"
compile_out=$(timeout 600 scripts/compile.sh --out "$WORK/bin" linux-arm64) || die "scripts/compile.sh linux-arm64 failed"
echo "  $compile_out"
EXE64=(qemu-aarch64 -L "$SYSROOT" "$WORK/bin/toxtunnel-linux-arm64")
is_arm64 "$WORK/bin/toxtunnel-linux-arm64" || die "the compiled executable is not arm64"
timed "toxtunnel-linux-arm64 --version" timeout 120 "${EXE64[@]}" --version
timed "toxtunnel-linux-arm64 print-id" timeout 120 "${EXE64[@]}" print-id -d "$WORK/exe64-id"

say "tunnels: arm64 against x86 (1 MB echoed, sha256 compared)"
cat >"$WORK/tunnels.mts" <<'EOF'
import { mkdirSync, writeFileSync } from 'node:fs';
import { spawn, spawnSync } from 'node:child_process';
import { join } from 'node:path';
const [root, work, sysroot, exe64] = process.argv.slice(2) as [string, string, string, string];
const { startBootstrapd } = await import(join(root, 'test/helpers/bootstrapd.ts'));
const { CLI, CliProcess, echo, echoRoundTrip, sha256, startService, testData } = await import(join(root, 'test/helpers/tunnel-env.ts'));
const node64 = ['qemu-aarch64', '-L', sysroot, join(sysroot, 'usr/bin/node'), CLI];
const node86 = [process.execPath, CLI];
const exe = ['qemu-aarch64', '-L', sysroot, exe64];
const b = await startBootstrapd(29780, 29781);
const service = await startService(0, echo); // kernel-picked ports for TCP: see distribution.test.ts
const live: any[] = [];
const yaml = (mode: string, dir: string, port: number, extra: string[]) => {
  const path = join(dir, `${mode}.yaml`);
  writeFileSync(path, [`mode: ${mode}`, `data_dir: ${join(dir, mode)}`, 'logging:', '  level: info', 'tox:', '  udp_enabled: true',
    '  tcp_port: 0', `  start_port: ${port}`, `  end_port: ${port + 2}`, '  bootstrap_mode: none', '  bootstrap_nodes:',
    '    - address: 127.0.0.1', `      port: ${b.udpPort}`, `      public_key: ${b.publicKey}`, `      tcp_ports: [${b.tcpPort}]`, ...extra, ''].join('\n'));
  return path;
};
const start = (cmd: string[], args: string[]) => {
  const p = new CliProcess(spawn(cmd[0]!, [...cmd.slice(1), ...args], { cwd: work, stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, NO_COLOR: '1' } }));
  live.push(p);
  return p;
};
async function pair(name: string, server: string[], client: string[], ports: { s: number; c: number }) {
  const dir = join(work, name);
  mkdirSync(dir);
  const id = spawnSync(server[0]!, [...server.slice(1), 'print-id', '-d', join(dir, 'server')], { encoding: 'utf8', timeout: 120_000 }).stdout.match(/[0-9A-F]{76}/)?.[0];
  if (!id) throw new Error(`${name}: no server Tox ID`);
  const t0 = Date.now();
  const s = start(server, ['-c', yaml('server', dir, ports.s, ['server:', '  allow_any: true'])]);
  await s.waitForOutput(/Tox ID: [0-9A-F]{76}/, 120_000, `${name}: server up`);
  const serverUp = Date.now() - t0;
  const t1 = Date.now();
  const c = start(client, ['-c', yaml('client', dir, ports.c, ['client:', `  server_id: ${id}`, '  forwards:', '    - local_port: 0', '      remote_host: 127.0.0.1', `      remote_port: ${service.port}`])]);
  try {
    const fwd = Number((await c.waitForOutput(/forwarding 127\.0\.0\.1:(\d+)/, 120_000, `${name}: client listening`))[1]);
    const listening = Date.now() - t1;
    const data = testData(1024 * 1024, ports.s);
    const t2 = Date.now();
    const back = await echoRoundTrip(fwd, data, 240_000);
    if (sha256(back) !== sha256(data)) throw new Error(`${name}: sha256 differs`);
    const online = /Friend connection status: Connected \((UDP|TCP)\)/.exec(c.output)?.[1] ?? '?';
    console.log(`  ${name}: server up ${serverUp} ms, client listening ${listening} ms, 1 MB echoed (sha256 equal, ${online}) ${Date.now() - t2} ms after connecting`);
  } catch (error) {
    console.error(`--- server:\n${s.output.slice(-2000)}\n--- client:\n${c.output.slice(-2000)}`);
    throw error;
  } finally {
    for (const p of [c, s]) p.signal('SIGTERM');
    for (const p of [c, s]) await p.exited(20_000).catch(() => p.kill());
  }
}
try {
  await pair('arm64 node client -> x86 node server', node86, node64, { s: 29785, c: 29788 });
  await pair('x86 node client -> arm64 compiled server', exe, node86, { s: 29791, c: 29794 });
} finally {
  for (const p of live) p.kill();
  await service.close();
  b.stop();
}
EOF
timeout 600 node --import tsx "$WORK/tunnels.mts" "$ROOT" "$WORK" "$SYSROOT" "$WORK/bin/toxtunnel-linux-arm64" \
  || die "an arm64 tunnel check failed (output above)"
say "arm64: all checks passed"
