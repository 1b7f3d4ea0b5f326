// SPDX-License-Identifier: GPL-3.0-or-later
/**
 * Where a process's resident memory is, from /proc/<pid>/smaps (Linux). Each mapping's Rss
 * goes to one part:
 * - `runtime binary`: file-backed pages of the runtime's executable (node, bun, deno): clean,
 *   shared with every other process of the same runtime, dropped by the kernel under pressure;
 * - `libraries`: the other file-backed pages (libc, libstdc++, …);
 * - `malloc main`: glibc's main arena, the `[heap]` (brk) mapping;
 * - `malloc threads`: glibc's per-thread arenas: 64 MiB-aligned anonymous heaps (the part
 *   in use is read-write, the rest of the 64 MiB reserved with no access);
 * - `wasm memory`: the read-write start of a reservation of at least 1 GiB (V8 reserves 8 GiB
 *   plus guard pages for each wasm memory; Rss is the part touched, not the memory's size). On
 *   Bun, JavaScriptCore's own large reservations (its gigacages, ~1.3 MiB touched by a bare
 *   `bun -e`) land here too;
 * - `code`: anonymous executable mappings (JIT code of JavaScript and wasm);
 * - `stacks`: `[stack]` and the thread stacks' mappings are not told apart from other anonymous
 *   memory, so only the main stack;
 * - `other anon`: everything else anonymous — V8's heap pages, its large objects, thread stacks.
 */
import { readFileSync } from 'node:fs';

export const PARTS = ['runtime binary', 'libraries', 'malloc main', 'malloc threads', 'wasm memory', 'code', 'stacks', 'other anon'] as const;
export type Part = (typeof PARTS)[number];

interface Mapping {
  start: bigint;
  end: bigint;
  perm: string;
  inode: number;
  path: string;
  rssKiB: number;
}

const MiB = 1n << 20n;
const ARENA = 64n * MiB;

function parse(text: string): Mapping[] {
  const maps: Mapping[] = [];
  for (const line of text.split('\n')) {
    const head = /^([0-9a-f]+)-([0-9a-f]+) (\S+) \S+ \S+ (\d+)\s*(.*)$/.exec(line);
    if (head) {
      maps.push({ start: BigInt(`0x${head[1]}`), end: BigInt(`0x${head[2]}`), perm: head[3]!, inode: Number(head[4]), path: head[5]!.trim(), rssKiB: 0 });
      continue;
    }
    const rss = /^Rss:\s+(\d+) kB/.exec(line);
    if (rss && maps.length) maps[maps.length - 1]!.rssKiB = Number(rss[1]);
  }
  return maps;
}

/** MiB resident per part; `executable` is the real path of the runtime's binary. */
export function rssParts(pid: number, executable: string): Record<Part, number> {
  const maps = parse(readFileSync(`/proc/${pid}/smaps`, 'utf8'));
  const parts = Object.fromEntries(PARTS.map((p) => [p, 0])) as Record<Part, number>;
  maps.forEach((m, i) => {
    const next = maps[i + 1];
    const size = m.end - m.start;
    // The inaccessible rest of the same reservation, right after this mapping.
    const reserved = next && next.start === m.end && next.perm.startsWith('---') && !next.inode ? next.end - next.start : 0n;
    let part: Part;
    if (m.inode) part = m.path === executable ? 'runtime binary' : 'libraries';
    else if (m.path === '[heap]') part = 'malloc main';
    else if (m.path === '[stack]') part = 'stacks';
    else if (m.path) part = 'other anon';
    else if (m.perm.includes('x')) part = 'code';
    else if (size + reserved >= 1024n * MiB) part = 'wasm memory';
    else if (m.start % ARENA === 0n && size + reserved === ARENA) part = 'malloc threads';
    else part = 'other anon';
    parts[part] += m.rssKiB / 1024;
  });
  return parts;
}
