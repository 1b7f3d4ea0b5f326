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

export function tuneHeapForLongRun(): void {
  try {
    setFlagsFromString('--semi-space-growth-factor=1');
  } catch {
    /* a runtime without V8 flags */
  }
}
