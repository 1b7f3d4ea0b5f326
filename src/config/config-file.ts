// SPDX-License-Identifier: GPL-3.0-or-later
/**
 * The YAML config file, as the C++ toxtunnel reads it plus a few optional keys of ours (marked
 * "ours"): its schema, written once; the type of a loaded file is inferred from it. Every
 * problem is reported as file:line:column, key path, what is wrong and what would be valid.
 * docs/config.md is the reference; config.ts resolves the file with the environment and flags.
 */
import { readFileSync } from 'node:fs';
import * as v from 'valibot';
import { ToxtunnelError } from '../errors.ts';
import { osErrorText } from '../os-errors.ts';
import { parseForwardSpec, parseMetricsSpec, parseReverseSpec, parseSocksSpec } from './forward-spec.ts';
import { publicKeyProblem } from './placeholders.ts';
import { bool, int, list, mapping, nonEmpty, oneOf, port, type Problem, section, text, textOrMapping, validate } from './schema.ts';
import { CLIENT_PROTOCOLS } from './specs.ts';
import { type PathKey, parseYamlDocument, pathText } from './yaml-document.ts';

export const LOG_LEVELS = ['error', 'warn', 'info', 'debug', 'trace'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];
/** auto: shipped public nodes + listed ones; lan: LAN discovery + listed; none (ours): listed only. */
export const BOOTSTRAP_MODES = ['auto', 'lan', 'none'] as const;
export type BootstrapMode = (typeof BOOTSTRAP_MODES)[number];

/** The message of the error `parse` throws, as a schema problem (the schema adds file, line and key). */
const problemOf =
  (parse: (value: string) => unknown): Problem =>
  (value) => {
    try {
      parse(value);
      return undefined;
    } catch (error) {
      return (error as Error).message;
    }
  };

const optional = v.optional;

const TOX = v.pipe(
  mapping({
    udp_enabled: optional(bool()),
    ipv6_enabled: optional(bool()), // ours
    tcp_port: optional(int(0, 65535)),
    start_port: optional(port()), // ours: UDP port range toxcore binds (first free wins)
    end_port: optional(port()), // ours
    bootstrap_mode: optional(oneOf(BOOTSTRAP_MODES)),
    address_hints: optional(bool()), // ours: remember where friends were and reach them there first (docs/config.md)
    proxy: optional(text()), // ours (tuntox reads ALL_PROXY): socks5://host:port, http://host:port or none
    bootstrap_nodes: list(
      mapping(
        {
          address: nonEmpty('a host name or IP address'),
          port: port(),
          public_key: text(publicKeyProblem('a DHT public key')),
          tcp_ports: list(port()), // ours
        },
        'each node needs address, port, public_key',
      ),
    ),
  }),
  v.rawCheck(({ dataset, addIssue }) => {
    if (!dataset.typed) return;
    const tox = dataset.value;
    if (tox.start_port !== undefined && tox.end_port !== undefined && tox.end_port < tox.start_port) {
      addIssue({
        message: `${tox.end_port} is below start_port ${tox.start_port}`,
        path: [{ type: 'object', origin: 'value', input: tox, key: 'end_port', value: tox.end_port }],
      });
    }
  }),
);

const SERVER = section({
  rules_file: optional(nonEmpty('leave the key out for the default')),
  shared_secret: optional(text()), // ours (tuntox -s): friend requests must carry it
  // ours: a key, or {public_key, name} (the name shows in logs, status and list)
  whitelist: list(
    textOrMapping(
      text(publicKeyProblem("a friend's public key")),
      { public_key: text(publicKeyProblem("a friend's public key")), name: optional(text()) },
      "a friend's public key",
      'the friend\'s 64-hex public key; "name" is optional',
    ),
    true,
  ),
  allow_any: optional(bool()), // ours: admit every friend when nothing else configures access
  max_friends: optional(int(1, 10000)), // ours: friend requests beyond it are refused
});

const CLIENT = section({
  server_id: optional(text()), // checked when resolved (a placeholder must not stop print-id)
  forwards: list(
    textOrMapping(
      text(problemOf(parseForwardSpec)), // as -L writes it
      { local_port: int(0, 65535), remote_host: nonEmpty('the host the server connects to'), remote_port: port(), bind: optional(text()) /* ours */ },
      '"[bind:]port:host:hostport"',
      'each forward needs local_port, remote_host, remote_port',
    ),
    true,
  ),
  pipe: optional(text()),
  protocol: optional(oneOf(CLIENT_PROTOCOLS)), // ours: auto (detect), toxtunnel, tuntox (docs/tuntox.md)
  invite: optional(text()), // ours: a `toxtunnel invite` line (server ID, secret, address hints)
  shared_secret: optional(text()), // ours: sent in the friend request
  connect_timeout: optional(int(1, 86400)), // ours: seconds a connection waits for the server
  max_waiting: optional(int(1, 100000)), // ours: connections that may wait for the server at once
  // ours (ssh -R): the server listens on remote_port and carries connections here
  reverse: list(
    textOrMapping(
      text(problemOf(parseReverseSpec)), // as -R writes it
      { remote_port: port(), remote_bind: optional(text()), local_host: text(), local_port: port() },
      '"[bind:]port:host:hostport"',
      'each reverse forward needs remote_port, local_host, local_port',
    ),
    true,
  ),
  // ours (ssh -D): a local SOCKS5 proxy whose connections go through the server
  socks: list(
    textOrMapping(
      text(problemOf(parseSocksSpec)), // as -D writes it
      { port: int(0, 65535), bind: optional(text()), username: optional(text()), password: optional(text()) },
      '"[bind:]port"',
      'the local SOCKS5 port',
      (x) => ((x.username === undefined) !== (x.password === undefined) ? 'give both "username" and "password", or neither' : undefined),
    ),
    true,
  ),
});

export const CONFIG_SCHEMA = section({
  mode: optional(oneOf(['server', 'client'])),
  data_dir: optional(nonEmpty('leave the key out for the default')),
  extensions: optional(bool()), // ours: negotiate half-close and reverse tunnels (default true)
  control_socket: optional(bool()), // ours: data_dir/control.sock for toxtunnel status/list/close
  metrics: optional(text(problemOf((s) => parseMetricsSpec(s, 'metrics')))), // ours: Prometheus /metrics on [bind:]port
  logging: section({ level: optional(oneOf(LOG_LEVELS)) }),
  tox: v.nullish(TOX),
  server: SERVER,
  client: CLIENT,
});

/** The config file as written (every key optional), as the schema checked it. */
export type ConfigFile = NonNullable<v.InferOutput<typeof CONFIG_SCHEMA>>;

/** A loaded config file, and where its keys are written (for errors found later, when resolving). */
export interface LoadedConfig {
  file: ConfigFile;
  /** "file:line:column: a.b" for a key path ("file: a.b" when the key is not in the file). */
  at(path: readonly PathKey[]): string;
  /** The line of a key path, when it is in the file. */
  line(path: readonly PathKey[]): number | undefined;
}

export function readConfigFile(path: string): LoadedConfig {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (error) {
    const fix = (error as NodeJS.ErrnoException).code === 'ENOENT' ? ' (check the path given to -c/--config or TOXTUNNEL_CONFIG; `toxtunnel init` writes one)' : '';
    throw new ToxtunnelError('CONFIG_UNREADABLE', `cannot read config file ${path}: ${osErrorText(error)}${fix}`, { file: path });
  }
  const doc = parseYamlDocument(text, path, { syntax: 'CONFIG_SYNTAX', tooLarge: 'CONFIG_TOO_LARGE', invalid: 'CONFIG_INVALID' });
  const file = validate(CONFIG_SCHEMA, doc) ?? {};
  return {
    file,
    at: (keys) => {
      const p = doc.find(keys);
      return `${path}${p ? `:${p.line}:${p.col}` : ''}: ${pathText(keys)}`;
    },
    line: (keys) => doc.find(keys)?.line,
  };
}

export function loadConfigFile(path: string): ConfigFile {
  return readConfigFile(path).file;
}
