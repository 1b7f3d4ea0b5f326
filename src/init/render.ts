// SPDX-License-Identifier: GPL-3.0-or-later
/**
 * The text of the files `toxtunnel init` writes: server.yaml, client.yaml and rules.yaml,
 * with a comment on every line that says what it does. Only keys the loaders accept
 * (src/config/config-file.ts CONFIG_SCHEMA, src/config/rules.ts RULES_SCHEMA) are written; the tests load every
 * generated file with the real loaders.
 *
 * Pure: no file system, no clock.
 */
import { parse as parseYamlValue } from 'yaml';

import { CLIENT_KEY_PLACEHOLDER, SERVER_ID_PLACEHOLDER } from '../config/placeholders.ts';

export { CLIENT_KEY_PLACEHOLDER, SERVER_ID_PLACEHOLDER };

/** One local forward of the client: bind:localPort → remoteHost:remotePort (seen from the server). */
export interface ForwardModel {
  /** What it is for, e.g. "SSH" (a comment). */
  label: string;
  /** The known service (SERVICES name), for the "how to connect" hint. */
  service?: string | undefined;
  localPort: number;
  remoteHost: string;
  remotePort: number;
}

/** Everything the three files are made of (already validated). */
export interface InitModel {
  scenario: string;
  /** The host the rule allows (an exact name/address, or a pattern with one "*"). */
  host: string;
  /** The ports the rule allows; 'all' = every port (broad). */
  ports: number[] | 'all';
  /** What each allowed port is, for comments (port → label). */
  portLabels: Record<number, string>;
  forwards: ForwardModel[];
  /** A local SOCKS5 listener (only for broad rules, where no single forward fits). */
  socksPort: number | undefined;
  /** 64 upper-case hex characters, or undefined: placeholder. */
  clientKey: string | undefined;
  /** 76 upper-case hex characters, or undefined: placeholder. */
  serverId: string | undefined;
  /** When the rule stops (temporary access), or undefined: no expiry. */
  expires: Date | undefined;
}

const COMMENT_COLUMN = 32;

/** `content` with `# comment` aligned at a fixed column (one space at least). */
function line(content: string, comment?: string): string {
  if (comment === undefined) return content;
  const pad = Math.max(1, COMMENT_COLUMN - content.length);
  return `${content}${' '.repeat(pad)}# ${comment}`;
}

/**
 * A YAML scalar that reads back as exactly this string: plain when that is safe
 * (127.0.0.1, db.internal), double-quoted otherwise (*.internal, ::1, all-digit text…).
 */
export function yamlString(value: string): string {
  if (/^[A-Za-z0-9][A-Za-z0-9._-]*$/.test(value)) {
    try {
      if (parseYamlValue(value) === value) return value;
    } catch {
      // fall through to quoting
    }
  }
  return JSON.stringify(value);
}

/** ISO 8601 in UTC without milliseconds: 2026-12-31T18:00:00Z. */
export function isoSeconds(date: Date): string {
  return date.toISOString().replace(/\.\d{3}Z$/, 'Z');
}

const portsText = (ports: number[] | 'all') => (ports === 'all' ? '[]' : `[${ports.join(', ')}]`);

export function renderServerYaml(model: InitModel): string {
  return [
    `# server.yaml: the toxtunnel server of the "${model.scenario}" scenario (written by toxtunnel init).`,
    '# Run it on the machine that can reach the service:  toxtunnel -c server.yaml',
    '# Keep rules.yaml next to this file: it says who may reach what.',
    line('mode: server', 'this side accepts tunnels from its friends (the clients)'),
    line('# data_dir: ~/.config/toxtunnel', 'optional: where the identity (tox_save.dat) lives; default per OS'),
    line('logging:', 'what the server logs'),
    line('  level: info', 'error | warn | info | debug | trace'),
    line('tox:', 'how this side joins the Tox network'),
    line('  udp_enabled: true', 'false = TCP relays only (for strict firewalls)'),
    line('  bootstrap_mode: auto', 'join through the public nodes shipped with toxtunnel'),
    line('server:', 'server-only settings'),
    line('  rules_file: rules.yaml', 'least-privilege access rules, relative to this file;'),
    line('', 'reloaded when it changes and on kill -HUP <pid>'),
    '',
  ].join('\n');
}

export function renderClientYaml(model: InitModel): string {
  const out = [
    `# client.yaml: the toxtunnel client of the "${model.scenario}" scenario (written by toxtunnel init).`,
    '# Run it on the machine you connect from:  toxtunnel -c client.yaml',
    line('mode: client', 'this side opens tunnels through the server'),
    line('# data_dir: ~/.config/toxtunnel', 'optional: where the identity lives; default per OS'),
    line('logging:', 'what the client logs'),
    line('  level: info', 'error | warn | info | debug | trace'),
    line('tox:', 'how this side joins the Tox network'),
    line('  udp_enabled: true', 'false = TCP relays only (for strict firewalls)'),
    line('  bootstrap_mode: auto', 'join through the public nodes shipped with toxtunnel'),
    line('client:', 'client-only settings'),
  ];
  if (model.serverId) {
    out.push(line(`  server_id: ${yamlString(model.serverId)}`, "the server's Tox ID (76 hex, checksum verified)"));
  } else {
    out.push(
      line(`  server_id: ${SERVER_ID_PLACEHOLDER}`, "REPLACE: the server's Tox ID (76 hex characters),"),
      line('', 'printed by `toxtunnel print-id` on the server; until then'),
      line('', 'this file does not load (on purpose)'),
    );
  }
  if (model.forwards.length > 0) {
    out.push(line('  forwards:', 'local ports that lead to the service through the server'));
    for (const f of model.forwards) {
      out.push(
        line(`    - local_port: ${f.localPort}`, `${f.label}: connect to 127.0.0.1:${f.localPort} on this machine`),
        line('      bind: 127.0.0.1', 'only programs on this machine can use it'),
        line(`      remote_host: ${yamlString(f.remoteHost)}`, 'the server connects here (as rules.yaml allows)'),
        line(`      remote_port: ${f.remotePort}`, `the ${f.label} port on that host`),
      );
    }
  }
  if (model.socksPort !== undefined) {
    out.push(
      line('  socks:', 'a local SOCKS5 proxy: reach any target rules.yaml allows'),
      line(`    - port: ${model.socksPort}`, 'point programs at socks5://127.0.0.1:' + model.socksPort),
      line('      bind: 127.0.0.1', 'only programs on this machine can use it'),
    );
  }
  out.push('');
  return out.join('\n');
}

export function renderRulesYaml(model: InitModel): string {
  const who = model.clientKey ? `${model.clientKey.slice(0, 8)}…` : 'the client';
  const out = [
    `# rules.yaml: who may open tunnels through the server, and to where ("${model.scenario}" scenario).`,
    '# Least privilege: the client below may reach exactly the host and ports listed, nothing else.',
    '# Deny entries are checked first, then allow entries; a friend without a rule in force is',
    '# not even accepted as a friend. The running server reloads this file when it is saved',
    '# (or on kill -HUP <pid>): deleting a rule closes that friend\'s tunnels within a second.',
    line('rules:', 'one entry per client'),
  ];
  if (model.clientKey) {
    out.push(line(`  - friend_pk: ${yamlString(model.clientKey)}`, `the client's public key (${who}): first 64 hex of its Tox ID`));
  } else {
    out.push(
      line(`  - friend_pk: ${CLIENT_KEY_PLACEHOLDER}`, "REPLACE: the client's public key = the first 64 hex"),
      line('', 'characters of `toxtunnel print-id` on the client; until'),
      line('', 'then this file does not load and the server will not start'),
    );
  }
  const labels = model.ports === 'all' ? 'every port' : model.ports.map((p) => `${model.portLabels[p] ?? 'port'} ${p}`).join(', ');
  out.push(
    line('    allow:', 'where this client may go (nothing else)'),
    line(`      - host: ${yamlString(model.host)}`, model.host.includes('*') ? 'BROAD: every host matching this pattern' : model.host === '127.0.0.1' ? 'the server machine itself' : 'this exact host, as the client names it'),
    line(`        ports: ${portsText(model.ports)}`, model.ports === 'all' ? 'BROAD: [] means every port' : `only ${labels}`),
  );
  if (model.expires) {
    out.push(line(`    expires: "${isoSeconds(model.expires)}"`, 'temporary: after this time the rule is gone and'), line('', 'the friend is dropped, its tunnels closed'));
  }
  out.push('');
  return out.join('\n');
}
