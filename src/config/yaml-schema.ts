// SPDX-License-Identifier: GPL-3.0-or-later
/**
 * A tiny schema checker for YAML documents that knows where everything is: every error
 * names the file, the line, the key path, and what would be valid ("did you mean …" for a
 * misspelt key). Used by the config file and the rules file.
 */
import { isMap, isScalar, isSeq, LineCounter, type Node, parseDocument } from 'yaml';
import { ToxtunnelError } from '../errors.ts';

export type Spec =
  | { type: 'string'; check?: (value: string) => string | undefined }
  | { type: 'int'; min: number; max: number }
  | { type: 'bool' }
  | { type: 'enum'; values: readonly string[] }
  /** orString: the entry may also be written as one string (e.g. a forward as -L writes it); returns its problem. */
  | { type: 'map'; keys: Record<string, Spec>; orString?: (value: string) => string | undefined }
  | { type: 'list'; item: Spec };

export interface Located {
  file: string;
  lines: LineCounter;
}

export function configError(code: string, where: Located, node: Node | null | undefined, path: string, problem: string): ToxtunnelError {
  const offset = node?.range?.[0];
  const line = offset === undefined ? undefined : where.lines.linePos(offset).line;
  const place = line === undefined ? where.file : `${where.file}:${line}`;
  return new ToxtunnelError(code, `${place}: ${path ? `${path}: ` : ''}${problem}`, { file: where.file, line, key: path });
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

export function suggest(key: string, valid: string[]): string {
  const best = valid
    .map((v) => ({ v, d: Math.min(distance(key, v), v.includes(key) || key.includes(v) ? 2 : Infinity) }))
    .sort((x, y) => x.d - y.d)[0];
  return best && best.d <= Math.max(2, Math.floor(key.length / 3)) ? ` — did you mean "${best.v}"?` : '';
}

/** Parses YAML text; syntax errors become CONFIG_SYNTAX with the line. */
/** Config and rules files are small; this bounds parse time and memory (YAML costs ~90x). */
export const MAX_YAML_BYTES = 256 * 1024;

export function parseYaml(text: string, file: string, code = 'CONFIG_SYNTAX'): { root: Node | null; where: Located } {
  if (text.length > MAX_YAML_BYTES) {
    throw new ToxtunnelError(code.replace(/_SYNTAX$/, '_TOO_LARGE'), `${file}: ${text.length} bytes is too large for a toxtunnel file (at most ${MAX_YAML_BYTES >> 10} KiB)`, { file });
  }
  const lines = new LineCounter();
  // Duplicate keys are found by check() below: the yaml package's uniqueKeys is O(n^2).
  const doc = parseDocument(text, { lineCounter: lines, prettyErrors: false, uniqueKeys: false });
  const where = { file, lines };
  const first = doc.errors[0];
  if (first) {
    const line = lines.linePos(first.pos[0]).line;
    throw new ToxtunnelError(code, `${file}:${line}: YAML syntax error: ${first.message.split('\n')[0]}`, { file, line });
  }
  return { root: doc.contents as Node | null, where };
}

/** Checks `node` against `spec`; returns plain values (maps as objects with the YAML keys). */
export function check(node: Node | null | undefined, spec: Spec, path: string, where: Located, code = 'CONFIG_INVALID'): unknown {
  const fail = (problem: string) => configError(code, where, node, path, problem);
  if (spec.type === 'map') {
    if (node === null || node === undefined || (isScalar(node) && (node.value === null || node.value === ''))) return {};
    if (spec.orString && isScalar(node) && (typeof node.value === 'string' || typeof node.value === 'number')) {
      const problem = spec.orString(String(node.value));
      if (problem) throw fail(problem);
      return String(node.value);
    }
    if (!isMap(node)) throw fail(`expected a mapping with keys ${Object.keys(spec.keys).join(', ')}`);
    const out: Record<string, unknown> = {};
    const seen = new Set<string>();
    for (const pair of node.items) {
      const keyNode = pair.key as Node;
      const rawKey = isScalar(keyNode) ? String(keyNode.value) : String(keyNode);
      // Peer-free but still shown to people: one line, bounded.
      const key = rawKey.length > 60 || /[\u0000-\u001f]/.test(rawKey) ? JSON.stringify(rawKey.slice(0, 60)) + (rawKey.length > 60 ? '…' : '') : rawKey;
      const childPath = path ? `${path}.${key}` : key;
      if (seen.has(rawKey)) throw configError(code, where, keyNode, childPath, `duplicate key "${key}"`);
      seen.add(rawKey);
      // Own keys only: "toString" or "__proto__" must be unknown keys, not Object.prototype's.
      const childSpec = Object.hasOwn(spec.keys, rawKey) ? spec.keys[rawKey] : undefined;
      if (!childSpec) {
        const valid = Object.keys(spec.keys);
        throw configError('CONFIG_UNKNOWN_KEY', where, keyNode, childPath, `unknown key "${key}"${suggest(key, valid)} (valid here: ${valid.join(', ')})`);
      }
      out[rawKey] = check(pair.value as Node | null, childSpec, childPath, where, code);
    }
    return out;
  }
  if (spec.type === 'list') {
    if (node === null || node === undefined || (isScalar(node) && node.value === null)) return [];
    // One entry that may be a string may also be given without the list around it.
    if (spec.item.type === 'map' && spec.item.orString && isScalar(node) && typeof node.value === 'string') return [check(node, spec.item, `${path}[0]`, where, code)];
    if (!isSeq(node)) throw fail('expected a list');
    return node.items.map((item, i) => check(item as Node, spec.item, `${path}[${i}]`, where, code));
  }
  if (!isScalar(node)) throw fail(`expected a single value (${describe(spec)})`);
  const value = node.value;
  switch (spec.type) {
    case 'string': {
      if (value === null || typeof value === 'object') throw fail('expected a text value');
      // A plain scalar that looks like a number (an all-digit Tox ID, "0445") is read as the
      // characters written, not as the number YAML makes of it.
      const source = (node as { source?: unknown }).source;
      const text = typeof value === 'number' && typeof source === 'string' ? source : String(value);
      const problem = spec.check?.(text);
      if (problem) throw fail(problem);
      return text;
    }
    case 'int': {
      const n = typeof value === 'string' && /^\d+$/.test(value) ? Number(value) : value;
      if (typeof n !== 'number' || !Number.isInteger(n) || n < spec.min || n > spec.max) {
        throw fail(`${JSON.stringify(value)} is not a whole number from ${spec.min} to ${spec.max}`);
      }
      return n;
    }
    case 'bool':
      if (typeof value !== 'boolean') throw fail(`${JSON.stringify(value)} is not true or false`);
      return value;
    case 'enum':
      if (typeof value !== 'string' || !spec.values.includes(value)) {
        throw fail(`${JSON.stringify(value)} is not one of ${spec.values.join(', ')}${typeof value === 'string' ? suggest(value, [...spec.values]) : ''}`);
      }
      return value;
  }
}

function describe(spec: Spec): string {
  switch (spec.type) {
    case 'int':
      return `a number ${spec.min}..${spec.max}`;
    case 'enum':
      return spec.values.join(' | ');
    default:
      return spec.type;
  }
}
