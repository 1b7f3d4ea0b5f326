// SPDX-License-Identifier: GPL-3.0-or-later
/**
 * A YAML file (the config or the rules file) as plain data for the schema (schema.ts), and
 * where each part of it is written, so that every error can name file:line:column.
 *
 * What the data looks like:
 * - a mapping is an object without a prototype (so that a key named "toString" or "__proto__"
 *   is an ordinary, unknown key, not Object.prototype's); a sequence is an array;
 * - a scalar is its YAML value (string, boolean, null), except numbers: a number is kept as a
 *   number only when it prints back as written ("22", "-1", "1.5"); otherwise ("0445", "1e3",
 *   an all-digit 76-character Tox ID, ".nan") it is the text as written, so that a text field
 *   never loses characters and a number field sees what the user wrote.
 * Refused with an error naming the place: aliases (*name; never expanded, so an alias bomb
 * costs nothing), duplicate keys, keys that are not scalars, nesting deeper than MAX_DEPTH.
 */
import { isAlias, isMap, isScalar, isSeq, LineCounter, type Node, type Pair, parseDocument } from 'yaml';
import { ToxtunnelError } from '../errors.ts';

/** Config and rules files are small; this bounds parse time and memory (YAML costs ~90x). */
export const MAX_YAML_BYTES = 256 * 1024;
/** Our files nest five levels at most; deeper documents are refused before any recursion can run out of stack. */
const MAX_DEPTH = 32;

/** The error codes of one kind of file: CONFIG_* or RULES_*. */
export interface YamlCodes {
  syntax: string;
  tooLarge: string;
  invalid: string;
}

export interface Position {
  line: number;
  col: number;
}

/** One step of a path into the document: a mapping key or a sequence index. */
export type PathKey = string | number;

export interface YamlDocument {
  file: string;
  codes: YamlCodes;
  /** The document as plain data (see the file comment); undefined for an empty document. */
  value: unknown;
  /**
   * Where the value at `path` is written (its key, with `key`), or, when the path leads past
   * what the document holds, the deepest part of the path that is there.
   */
  position(path: readonly PathKey[], key?: boolean): Position | undefined;
  /** Where the value at `path` (its key, with `key`) is written; undefined when the document has no such path. */
  find(path: readonly PathKey[], key?: boolean): Position | undefined;
  /** An error at `path`: "file:line:col: a.b[0]: problem". */
  error(code: string, path: readonly PathKey[], problem: string, key?: boolean): ToxtunnelError;
}

/** `a.b[0].c`, with keys a person can read on one line. */
export function pathText(path: readonly PathKey[]): string {
  return path.map((k, i) => (typeof k === 'number' ? `[${k}]` : `${i > 0 ? '.' : ''}${keyText(k)}`)).join('');
}

/** A key as shown in messages: one line, bounded (the key is the user's text). */
export function keyText(key: string): string {
  return key.length > 60 || /[\u0000-\u001f]/.test(key) ? JSON.stringify(key.slice(0, 60)) + (key.length > 60 ? '…' : '') : key;
}

export function parseYamlDocument(text: string, file: string, codes: YamlCodes): YamlDocument {
  if (text.length > MAX_YAML_BYTES) {
    throw new ToxtunnelError(codes.tooLarge, `${file}: ${text.length} bytes is too large for a toxtunnel file (at most ${MAX_YAML_BYTES >> 10} KiB)`, { file });
  }
  const lines = new LineCounter();
  // Duplicate keys are found below: the yaml package's uniqueKeys is O(n^2) in a mapping's size.
  const doc = parseDocument(text, { lineCounter: lines, prettyErrors: false, uniqueKeys: false });
  const first = doc.errors[0];
  if (first) {
    const { line, col } = lines.linePos(first.pos[0]);
    throw new ToxtunnelError(codes.syntax, `${file}:${line}:${col}: YAML syntax error: ${first.message.split('\n')[0]}`, { file, line, column: col });
  }
  const root = doc.contents as Node | null;
  const at = (node: Node | null | undefined): Position | undefined => {
    const offset = node?.range?.[0];
    return offset === undefined ? undefined : lines.linePos(offset);
  };
  const locate = (path: readonly PathKey[], key: boolean, exact: boolean): Position | undefined => {
    let node: Node | null | undefined = root;
    let keyNode: Node | undefined;
    for (const step of path) {
      const next = childOf(node, step);
      if (!next) return exact ? undefined : at(node);
      [keyNode, node] = next;
    }
    return at(key && keyNode ? keyNode : node) ?? at(keyNode);
  };
  const position = (path: readonly PathKey[], key = false) => locate(path, key, false);
  const find = (path: readonly PathKey[], key = false) => locate(path, key, true);
  const errorAt = (code: string, p: Position | undefined, path: readonly PathKey[], problem: string): ToxtunnelError => {
    const place = p ? `${file}:${p.line}:${p.col}` : file;
    const where = pathText(path);
    return new ToxtunnelError(code, `${place}: ${where ? `${where}: ` : ''}${problem}`, { file, line: p?.line, column: p?.col, key: where });
  };
  const error = (code: string, path: readonly PathKey[], problem: string, key = false) => errorAt(code, position(path, key), path, problem);
  const document: YamlDocument = { file, codes, value: undefined, position, find, error };
  document.value = toData(root, [], (node, path, problem) => errorAt(codes.invalid, at(node), path, problem));
  return document;
}

/** The key and value nodes of a mapping entry or a sequence item. */
function childOf(node: Node | null | undefined, step: PathKey): [Node | undefined, Node | undefined] | undefined {
  if (isMap(node) && typeof step === 'string') {
    const pair = node.items.find((p) => isScalar(p.key) && keyOf(p) === step);
    return pair ? [pair.key as Node, (pair.value as Node | null) ?? undefined] : undefined;
  }
  if (isSeq(node) && typeof step === 'number' && step < node.items.length) return [undefined, node.items[step] as Node];
  return undefined;
}

function keyOf(pair: Pair): string {
  return String(scalarValue((pair.key as { value: unknown; source?: unknown }).value, (pair.key as { source?: unknown }).source));
}

function scalarValue(value: unknown, source: unknown): unknown {
  if (typeof value === 'number') return typeof source === 'string' && String(value) !== source ? source : value;
  if (value === null || typeof value === 'string' || typeof value === 'boolean') return value;
  // A tagged scalar the core schema turns into an object (!!binary, …): its text.
  return typeof source === 'string' ? source : String(value);
}

type Fail = (node: Node | undefined, path: PathKey[], problem: string) => ToxtunnelError;

function toData(node: Node | null | undefined, path: PathKey[], fail: Fail): unknown {
  if (node === null || node === undefined) return null;
  if (path.length > MAX_DEPTH) throw fail(node, path, `nested more than ${MAX_DEPTH} levels deep`);
  if (isAlias(node)) throw fail(node, path, `an alias (*${node.source}) is not allowed in a toxtunnel file: write the value out`);
  if (isScalar(node)) return scalarValue(node.value, (node as { source?: unknown }).source);
  if (isSeq(node)) return node.items.map((item, i) => toData(item as Node, [...path, i], fail));
  if (isMap(node)) {
    const out: Record<string, unknown> = Object.create(null);
    for (const pair of node.items) {
      const keyNode = (pair.key as Node | null) ?? undefined;
      if (!isScalar(keyNode)) throw fail(keyNode ?? node, path, 'a key must be a plain name, not a list, a mapping or an alias');
      const key = keyOf(pair);
      if (Object.hasOwn(out, key)) throw fail(keyNode, [...path, key], `duplicate key "${keyText(key)}"`);
      out[key] = toData(pair.value as Node | null, [...path, key], fail);
    }
    return out;
  }
  return null;
}
