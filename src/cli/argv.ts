// SPDX-License-Identifier: GPL-3.0-or-later
/**
 * Keeps every command-line value text through cac. cac's parser (mri) turns a value that looks
 * like a number into a number: an all-digit Tox ID or public key would come out as a lossy
 * float, a port list "0445" as 445. protectArgv marks such arguments so that they do not look
 * like numbers; unprotect takes the mark off the parsed values. Nothing else is parsed here.
 */

/** A character no one types in an argument (SOH); prefixed to number-like arguments. */
const MARK = '\u0001';

/** Arguments that mri would read as a number (`+value` is finite), marked; flags untouched. */
export function protectArgv(argv: readonly string[]): string[] {
  return argv.map((arg, i) => (i >= 2 && !arg.startsWith('-') && arg.trim() !== '' && Number.isFinite(+arg) ? MARK + arg : arg));
}

/** The parsed values with the mark taken off (strings, arrays and objects of them). */
export function unprotect<T>(value: T): T {
  if (typeof value === 'string') return (value.startsWith(MARK) ? value.slice(MARK.length) : value) as T;
  if (Array.isArray(value)) return value.map(unprotect) as T;
  if (typeof value === 'object' && value !== null) return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, unprotect(v)])) as T;
  return value;
}

/** Options as cac gives them (camelCase): a flag given twice is an array. */
export type ParsedFlags = Record<string, unknown>;

/** A single-valued flag: the last one given wins, as in ssh. true (no value) and false are left out. */
export function lastValue(value: unknown): string | undefined {
  const last = Array.isArray(value) ? value.at(-1) : value;
  return last === undefined || typeof last === 'boolean' ? undefined : String(last);
}

/** A repeatable flag: every value, in order. */
export function allValues(value: unknown): string[] {
  if (value === undefined || typeof value === 'boolean') return [];
  return (Array.isArray(value) ? value : [value]).filter((v) => typeof v !== 'boolean').map(String);
}
