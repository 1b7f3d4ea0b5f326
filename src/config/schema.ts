// SPDX-License-Identifier: GPL-3.0-or-later
/**
 * The pieces the config and rules schemas are built from (valibot schemas whose messages are
 * written for people), and the one place a failed check becomes an error: the problem that is
 * written first in the file, as "file:line:column: key.path: what is wrong — did you mean …".
 *
 * The data checked is a YAML document as yaml-document.ts makes it: strings, booleans, null,
 * numbers that print as written (other numbers as their text), arrays, prototype-less objects.
 */
import * as v from 'valibot';
import { keyText, type PathKey, pathText, type YamlDocument } from './yaml-document.ts';

/** What is wrong with a text value, or undefined when it is fine. */
export type Problem = (value: string) => string | undefined;

/** A value as a message shows it: short, one line. */
function shown(value: unknown): string {
  if (Array.isArray(value)) return 'a list';
  if (value !== null && typeof value === 'object') return 'a mapping';
  if (typeof value === 'string') return JSON.stringify(value.length > 60 ? `${value.slice(0, 60)}…` : value);
  return String(value);
}

/** Levenshtein distance, for "did you mean". */
function distance(a: string, b: string): number {
  const row = Array.from({ length: b.length + 1 }, (_, i) => i);
  for (let i = 1; i <= a.length; i++) {
    let previous = row[0]!;
    row[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const current = row[j]!;
      row[j] = Math.min(row[j]! + 1, row[j - 1]! + 1, previous + (a[i - 1] === b[j - 1] ? 0 : 1));
      previous = current;
    }
  }
  return row[b.length]!;
}

/** " — did you mean "x"?" for the valid word closest to `word`, or "" when none is close. */
export function suggest(word: string, valid: readonly string[]): string {
  if (word.length > 100) return '';
  const best = valid
    .map((w) => ({ w, d: Math.min(distance(word, w), w.includes(word) || word.includes(w) ? 2 : Infinity) }))
    .sort((x, y) => x.d - y.d)[0];
  return best && best.d <= Math.max(2, Math.floor(word.length / 3)) ? ` — did you mean "${best.w}"?` : '';
}

/** Runs `problem` on a text value; its answer becomes the issue's message. */
const checked = (problem: Problem) =>
  v.rawCheck<string>(({ dataset, addIssue }) => {
    if (!dataset.typed) return;
    const message = problem(dataset.value);
    if (message !== undefined) addIssue({ message });
  });

/**
 * A text value. A number or true/false written where text is expected is taken as the text
 * written (yaml-document.ts keeps numbers that would not print back as written as text).
 */
export const text = (problem: Problem = () => undefined) =>
  v.pipe(
    v.custom<string | number | boolean>(
      (x) => typeof x === 'string' || typeof x === 'number' || typeof x === 'boolean',
      (issue) => (issue.input === null ? 'is empty: give a value, or leave the key out' : `expected a text value, not ${shown(issue.input)}`),
    ),
    v.transform(String),
    checked(problem),
  );

/** A text that must not be blank. */
export const nonEmpty = (what: string) => text((s) => (s.trim() ? undefined : `is empty (${what})`));

/** A whole number from min to max, written as a number or as digits in quotes. */
export function int(min: number, max: number) {
  const message = (issue: { input: unknown }) => `${shown(issue.input)} is not a whole number from ${min} to ${max}`;
  return v.pipe(
    v.union([v.number(message), v.pipe(v.string(message), v.regex(/^\d+$/, message), v.transform(Number))], message),
    v.integer(message),
    v.minValue(min, message),
    v.maxValue(max, message),
  );
}

export const port = () => int(1, 65535);

export const bool = () => v.boolean((issue) => `${shown(issue.input)} is not true or false`);

/** One of a few words; a near miss gets "did you mean". */
export const oneOf = <const T extends readonly string[]>(values: T) =>
  v.picklist(values, (issue) => `${shown(issue.input)} is not one of ${values.join(', ')}${typeof issue.input === 'string' ? suggest(issue.input, values) : ''}`);

/**
 * A mapping with exactly these keys (optional ones wrapped in v.optional). An unknown key is
 * an error that lists the valid ones and suggests the closest; `needs` explains a missing key.
 */
export function mapping<const E extends v.ObjectEntries>(entries: E, needs?: string) {
  const keys = Object.keys(entries);
  const required = keys.filter((k) => !['optional', 'nullish', 'exact_optional'].includes(entries[k]!.type));
  const notMapping = (input: unknown) => `expected a mapping with keys ${keys.join(', ')}, not ${shown(input)}`;
  return v.pipe(
    // strictObject alone would take a list for a mapping whose keys are "0", "1", …
    v.custom<Record<string, unknown>>((x) => x !== null && typeof x === 'object' && !Array.isArray(x), (issue) => notMapping(issue.input)),
    v.strictObject(entries, (issue) => {
      const key = issue.path?.[0]?.key;
      if (typeof key !== 'string') return notMapping(issue.input);
      if (issue.expected === 'never') return `unknown key "${keyText(key)}"${suggest(key, keys)} (valid here: ${keys.join(', ')})`;
      return `missing "${key}" (${needs ?? `it needs ${required.join(', ')}`})`;
    }),
  );
}

/** A section of the file: a mapping that may be absent or empty (`tox:` with nothing under it). */
export const section = <const E extends v.ObjectEntries>(entries: E) => v.nullish(mapping(entries));

/** A list, which may be absent or empty; `orOne`: a single text item may be written without the list (`socks: 1080`). */
export function list<S extends v.GenericSchema>(item: S, orOne = false) {
  return v.nullish(
    v.pipe(
      v.unknown(),
      v.transform((x) => (orOne && (typeof x === 'string' || typeof x === 'number') ? [x] : x)),
      v.array(item, (issue) => `expected a list, not ${shown(issue.input)}`),
    ),
  );
}

/**
 * An entry written either as one string (as the command line writes it) or as a mapping;
 * `check` looks at the mapping as a whole (e.g. two keys that go together).
 */
export function textOrMapping<S extends v.GenericSchema, const E extends v.ObjectEntries>(
  asText: S,
  entries: E,
  example: string,
  needs?: string,
  check: (entry: v.InferOutput<ReturnType<typeof mapping<E>>>) => string | undefined = () => undefined,
) {
  const whole = v.pipe(
    mapping(entries, needs),
    v.rawCheck(({ dataset, addIssue }) => {
      const message = dataset.typed ? check(dataset.value) : undefined;
      if (message !== undefined) addIssue({ message });
    }),
  );
  return v.union([asText, whole], (issue) => `expected ${example} or a mapping with keys ${Object.keys(entries).join(', ')}, not ${shown(issue.input)}`);
}

/**
 * An issue as [issue, path of keys]: a union's issue (text or mapping) becomes the issues of the
 * form the value was written in, when one form got past the value's type (those have a path
 * into the value); otherwise it stays the union's own ("expected … or a mapping …").
 */
function located(issue: v.BaseIssue<unknown>, prefix: PathKey[] = []): Array<{ issue: v.BaseIssue<unknown>; path: PathKey[] }> {
  const path = [...prefix, ...(issue.path ?? []).map((p) => p.key as PathKey)];
  const inner = issue.type === 'union' ? (issue.issues ?? []).filter((i) => i.path?.length) : [];
  return inner.length > 0 ? inner.flatMap((i) => located(i, path)) : [{ issue, path }];
}

/** Checks a YAML document against a schema: its value, or the first problem in the file as a ToxtunnelError. */
export function validate<S extends v.GenericSchema>(schema: S, doc: YamlDocument): v.InferOutput<S> {
  const result = v.safeParse(schema, doc.value);
  if (result.success) return result.output;
  const problems = result.issues.flatMap((raw) => located(raw)).map(({ issue, path }) => {
    // strictObject's issues about a key (missing, unknown) end their path with the key itself.
    const keyIssue = issue.type === 'strict_object' && issue.path?.at(-1)?.origin === 'key';
    const unknown = keyIssue && issue.expected === 'never';
    // A missing key is reported at (and named by) the mapping that lacks it.
    const at = keyIssue && !unknown ? path.slice(0, -1) : path;
    return { issue, at, unknown, missing: keyIssue && !unknown, position: doc.position(at, unknown) };
  });
  // An unknown key usually explains a missing one ("remote_prot" for "remote_port"): report it, with its suggestion.
  const misspelt = new Set(problems.filter((p) => p.unknown).map((p) => pathText(p.at.slice(0, -1))));
  const reported = problems.filter((p) => !(p.missing && misspelt.has(pathText(p.at))));
  const order = (p: (typeof problems)[number]) => (p.position ? p.position.line * 1e6 + p.position.col : 0);
  const first = reported.reduce((a, b) => (order(b) < order(a) ? b : a));
  throw doc.error(first.unknown ? 'CONFIG_UNKNOWN_KEY' : doc.codes.invalid, first.at, first.issue.message, first.unknown);
}
