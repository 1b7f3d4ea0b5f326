// SPDX-License-Identifier: GPL-3.0-or-later
/**
 * A fault layer for the UDP path, for tests and diagnosis where the kernel offers no netem:
 * `TOXTUNNEL_FAULTS="loss=0.05,delay=10,jitter=10,duplicate=0.01"` makes every datagram this
 * process sends be dropped with probability `loss`, delayed by `delay` ± `jitter` ms (which
 * reorders them), and sent twice with probability `duplicate`. Off unless the variable is
 * set; toxtunnel warns at start when it is.
 */
import { ToxtunnelError } from '../errors.ts';

export interface FaultSpec {
  loss: number;
  delayMs: number;
  jitterMs: number;
  duplicate: number;
}

const KEYS = { loss: 'loss', delay: 'delayMs', jitter: 'jitterMs', duplicate: 'duplicate' } as const;

export function parseFaults(text: string): FaultSpec {
  const spec: FaultSpec = { loss: 0, delayMs: 0, jitterMs: 0, duplicate: 0 };
  for (const part of text.split(',').map((p) => p.trim()).filter(Boolean)) {
    const [key, value] = part.split('=');
    const field = KEYS[key as keyof typeof KEYS];
    const number = Number(value);
    const probability = field === 'loss' || field === 'duplicate';
    if (!field || !Number.isFinite(number) || number < 0 || (probability && number > 1) || (!probability && number > 10_000)) {
      throw new ToxtunnelError('CONFIG_ENV_INVALID', `TOXTUNNEL_FAULTS: bad "${part}" (expected loss=0..1, delay=ms, jitter=ms, duplicate=0..1, comma-separated)`);
    }
    spec[field] = number;
  }
  return spec;
}

/** The faults asked for by the environment, or undefined (the normal case). */
export function faultsFromEnvironment(): FaultSpec | undefined {
  let text: string | undefined;
  try {
    text = (globalThis as { process?: { env?: Record<string, string | undefined> } }).process?.env?.TOXTUNNEL_FAULTS;
  } catch {
    return undefined; // Deno without --allow-env
  }
  return text ? parseFaults(text) : undefined;
}

export class FaultyPath {
  constructor(
    private readonly spec: FaultSpec,
    private readonly random: () => number = Math.random,
  ) {}

  /** Calls `send` zero, one or two times, now or later, as the spec says. */
  deliver(send: () => void): void {
    if (this.random() < this.spec.loss) return;
    const copies = this.random() < this.spec.duplicate ? 2 : 1;
    for (let i = 0; i < copies; i++) {
      const delay = Math.max(0, this.spec.delayMs + (this.random() * 2 - 1) * this.spec.jitterMs);
      if (delay === 0) send();
      else setTimeout(send, delay);
    }
  }
}
