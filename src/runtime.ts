// SPDX-License-Identifier: GPL-3.0-or-later
/** Which JavaScript runtime runs the bundle: the one place that tells Node, Bun and Deno apart. */

export type RuntimeName = 'node' | 'bun' | 'deno';

export function runtimeName(): RuntimeName {
  const g = globalThis as { Deno?: unknown; Bun?: unknown };
  return g.Deno ? 'deno' : g.Bun ? 'bun' : 'node';
}
