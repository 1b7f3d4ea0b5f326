// SPDX-License-Identifier: GPL-3.0-or-later
/**
 * The native test peer (test/fixtures/native-peer.c): built here, by the test, with the system
 * compiler from the pinned toxcore sources in toxcore-submodule/ (unpatched: toxcore's own
 * congestion control) and Debian's libsodium-dev. Nothing prebuilt is committed; the binary
 * is kept in build/native/ and rebuilt when its sources are newer.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { ROOT } from './peer.ts';
import { CliProcess } from './tunnel-env.ts';
import { spawn } from 'node:child_process';

const TOXCORE = join(ROOT, 'toxcore-submodule');
const SOURCE = join(ROOT, 'test/fixtures/native-peer.c');
const BINARY = join(ROOT, 'build/native/tt-native-peer');

function toxcoreSources(): string[] {
  const dirs = [join(TOXCORE, 'toxcore'), join(TOXCORE, 'toxcore/events')];
  const files = dirs.flatMap((d) => readdirSync(d).filter((f) => f.endsWith('.c') && !f.endsWith('_test.c')).map((f) => join(d, f)));
  return [...files, join(TOXCORE, 'third_party/cmp/cmp.c')];
}

/** Builds the native peer if it is missing or older than its sources; returns its path. */
export function buildNativePeer(): string {
  const sources = [SOURCE, ...toxcoreSources()];
  if (existsSync(BINARY)) {
    const built = statSync(BINARY).mtimeMs;
    if (sources.every((s) => statSync(s).mtimeMs <= built)) return BINARY;
  }
  if (!existsSync('/usr/include/sodium.h')) throw new Error('the native test peer needs libsodium-dev (apt-get install libsodium-dev)');
  mkdirSync(join(ROOT, 'build/native'), { recursive: true });
  const result = spawnSync('gcc', ['-O2', '-std=gnu11', '-w', `-I${TOXCORE}`, '-o', BINARY, ...sources, '-lsodium', '-lpthread'], { encoding: 'utf8' });
  if (result.status !== 0) throw new Error(`building the native test peer failed:\n${result.stderr}`);
  return BINARY;
}

/** Starts the native echo peer; resolves with it and its Tox ID. `tcpRelayPort`: UDP off, only that relay. */
export async function startNativePeer(firstPort: number, bootstrapPort: number, bootstrapKey: string, maxSeconds = 300, tcpRelayPort?: number) {
  const args = [String(firstPort), String(bootstrapPort), bootstrapKey, String(maxSeconds), ...(tcpRelayPort ? [String(tcpRelayPort)] : [])];
  const child = spawn(buildNativePeer(), args, { stdio: ['ignore', 'pipe', 'pipe'] });
  const peer = new CliProcess(child);
  const id = (await peer.waitForOutput(/Tox ID: ([0-9A-F]{76})/, 10_000, 'the native peer Tox ID'))[1]!;
  return { peer, id };
}
