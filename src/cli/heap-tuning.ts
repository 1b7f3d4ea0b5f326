// SPDX-License-Identifier: GPL-3.0-or-later
/**
 * V8 settings for a long-running tunnel process (the CLI's run command; never the library,
 * whose host owns its heap).
 *
 * V8's young generation starts at 1 MiB per semi-space and doubles, up to 16 MiB each, when
 * scavenges see many survivors, as a bulk transfer's queued chunks are. It never gives the
 * pages back: a process that once moved a few hundred megabytes kept ~15 MiB more resident for
 * the rest of its life (a NAS runs it for months). With a growth factor of 1 the young
 * generation stays at its first size; the cost is more frequent scavenges while data flows.
 * Node's --max-semi-space-size does the same but only on the command line (the heap is sized
 * before any JavaScript runs); the growth factor is read at each resize, so setting it here
 * works. Bun (JavaScriptCore) has no V8 flags: the call is skipped there.
 *
 * It saves CPU too: V8 starts an old-generation collection (mark-compact) as soon as the old
 * generation's room before its limit is no larger than the young generation. With the young
 * generation at its 16 MiB maximum and our old generation small (8 MiB, limit ~20 MiB), a
 * mark-compact that found almost nothing to free ran every 50-100 ms of a bulk transfer, 40-120
 * per 100 MB on the sender (--trace-gc). Sender CPU per MB, 8 interleaved fresh pairs each
 * (bench/cpu-pair.ts, shared machine): 9.3 -> 7.4 ms user; the receiver's extra scavenges cost
 * no measurable CPU.
 */
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';

export function tuneHeapForLongRun(): void {
  try {
    setFlagsFromString('--semi-space-growth-factor=1');
  } catch {
    /* a runtime without V8 flags */
  }
}

/**
 * A full garbage collection, or undefined where the runtime offers none. Bun has Bun.gc; V8
 * (Node, Deno) exposes `gc` only to contexts made while --expose-gc is set, so one small context
 * is made for it (~0.3 MiB) and the flag is cleared again.
 */
export function fullGc(): (() => void) | undefined {
  const bun = (globalThis as { Bun?: { gc(sync: boolean): void } }).Bun;
  if (bun) return () => bun.gc(true);
  try {
    setFlagsFromString('--expose-gc');
    const gc: unknown = runInNewContext('typeof gc === "function" ? gc : undefined');
    setFlagsFromString('--no-expose-gc');
    return typeof gc === 'function' ? (gc as () => void) : undefined;
  } catch {
    return undefined;
  }
}

interface DenoFfi {
  build: { os: string };
  permissions: { querySync(p: { name: 'ffi' }): { state: string } };
  dlopen(path: string, symbols: Record<string, { parameters: string[]; result: string }>): { symbols: Record<string, (...a: number[]) => number> };
}

/**
 * glibc's malloc_trim(0), which hands back the free pages inside malloc's arenas, not only at
 * their tops: on Deno on Linux, where FFI is allowed (`-A` or `--allow-ffi`; never prompted
 * for), else undefined. Deno's own allocations kept 49-71 MiB of free memory in glibc's main
 * arena after 200 MB one way (malloc_stats: 61 MB held, 4.6 MB in use). Node has no FFI.
 */
export function mallocTrim(): (() => void) | undefined {
  const deno = (globalThis as { Deno?: DenoFfi }).Deno;
  if (typeof deno?.dlopen !== 'function' || deno.build.os !== 'linux') return undefined;
  try {
    if (deno.permissions.querySync({ name: 'ffi' }).state !== 'granted') return undefined;
    const libc = deno.dlopen('libc.so.6', { malloc_trim: { parameters: ['usize'], result: 'i32' } });
    return () => void libc.symbols.malloc_trim!(0);
  } catch {
    return undefined; // not glibc
  }
}

/** What collectWhenQuiet runs: a full collection, then (Deno) malloc_trim once the freed buffers are swept. */
export function releaseMemory(gc = fullGc(), trim = mallocTrim()): (() => void) | undefined {
  if (!gc) return undefined;
  return () => {
    gc();
    if (trim) setTimeout(trim, 1000).unref?.();
  };
}

/** Bytes moved through the tunnels since the last collection that earn the next one. */
export const COLLECT_AFTER_BYTES = 8e6;
/** How often the tunnels' byte counters are looked at while data flows or a collection is due. */
export const QUIET_CHECK_MS = 3000;
/** …and while all is quiet and nothing is due (an idle process wakes for this twice a minute). */
export const IDLE_CHECK_MS = 30_000;
/**
 * Runs one full collection when the tunnels have been quiet for a check interval after at least
 * COLLECT_AFTER_BYTES moved. Neither V8 nor glibc gives memory back on its own soon after a
 * burst: V8's memory reducer runs once about 8 s after start and then waits for collections that
 * an idle process never triggers, so a bulk transfer's dead buffers (their bytes live in malloc,
 * outside V8's heap) and the old generation it grew stayed resident. Measured after 200 MB one
 * way: the sender 6.3 MiB less (one pair; medians of 3 fresh pairs 81.2 -> 74.9 MiB), the
 * receiver ~1 MiB. A collection of this heap (~10 MiB) takes 20-40 ms of CPU, at most once per
 * COLLECT_AFTER_BYTES: under 5 ms per MB moved. Start-up is left to the memory reducer. The
 * counters are read every QUIET_CHECK_MS while something is due or data flows, every
 * IDLE_CHECK_MS otherwise (unref'd timers). Returns the stop function.
 */
export function collectWhenQuiet(
  bytesMoved: () => number,
  collect = releaseMemory(),
  timing = { everyMs: QUIET_CHECK_MS, idleMs: IDLE_CHECK_MS },
): () => void {
  if (!collect) return () => {};
  let due = false;
  let base = bytesMoved();
  let last = base;
  let timer: ReturnType<typeof setTimeout> | undefined;
  const check = () => {
    const now = bytesMoved();
    const quiet = now === last;
    last = now;
    if (now - base >= COLLECT_AFTER_BYTES) due = true;
    if (quiet && due) {
      due = false;
      base = now;
      collect();
    }
    timer = setTimeout(check, due || !quiet ? timing.everyMs : timing.idleMs);
    timer.unref?.();
  };
  timer = setTimeout(check, timing.everyMs);
  timer.unref?.();
  return () => clearTimeout(timer);
}
