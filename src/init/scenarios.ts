// SPDX-License-Identifier: GPL-3.0-or-later
/**
 * `toxtunnel init` scenarios and the plan of the files they write. Pure: no file system,
 * no prompts (the clock only through `now`).
 *
 * Least privilege: the rules file allows exactly the host:port pairs asked for. The default
 * host is 127.0.0.1 (the server machine itself); internal addresses appear only when named.
 * Anything broad — a host pattern ("*", "*.lan", "192.168.1.*", a CIDR subnet) or every port
 * (--ports all) — is refused (INIT_BROAD_REFUSED) with the narrower alternative, unless
 * allowBroad; any host on any port is refused always.
 *
 * Error codes: INIT_INVALID (bad option), INIT_BROAD_REFUSED (broad without allowBroad).
 */
import { ToxtunnelError } from '../errors.ts';
import { parsePublicKey, parseToxId } from '../tox/tox-id.ts';
import {
  CLIENT_KEY_PLACEHOLDER,
  type ForwardModel,
  type InitModel,
  isoSeconds,
  renderClientYaml,
  renderRulesYaml,
  renderServerYaml,
  SERVER_ID_PLACEHOLDER,
} from './render.ts';

/** A named service: its usual port and how to reach it once forwarded to `local`. */
export interface Service {
  name: string;
  port: number;
  label: string;
  connect: (local: number) => string;
}

export const SERVICES: readonly Service[] = [
  { name: 'ssh', port: 22, label: 'SSH', connect: (l) => `ssh -p ${l} USER@127.0.0.1` },
  { name: 'http', port: 80, label: 'HTTP', connect: (l) => `open http://127.0.0.1:${l}/ in a browser` },
  { name: 'https', port: 443, label: 'HTTPS', connect: (l) => `open https://127.0.0.1:${l}/ (the certificate names the real host: expect a name warning)` },
  { name: 'smb', port: 445, label: 'SMB', connect: (l) => `smb://127.0.0.1:${l}/SHARE (macOS Finder) or smbclient -p ${l} //127.0.0.1/SHARE (Windows' own client only uses port 445)` },
  { name: 'rsync', port: 873, label: 'rsync', connect: (l) => `rsync rsync://127.0.0.1:${l}/MODULE/` },
  { name: 'rdp', port: 3389, label: 'RDP', connect: (l) => `mstsc /v:127.0.0.1:${l} (Windows) or xfreerdp /v:127.0.0.1:${l}` },
  { name: 'mysql', port: 3306, label: 'MySQL', connect: (l) => `mysql -h 127.0.0.1 -P ${l} -u USER -p (127.0.0.1, not localhost: that would use the local socket)` },
  { name: 'webui', port: 5000, label: 'NAS web UI', connect: (l) => `open http://127.0.0.1:${l}/ in a browser` },
  { name: 'webui-https', port: 5001, label: 'NAS web UI over https', connect: (l) => `open https://127.0.0.1:${l}/ in a browser` },
  { name: 'postgres', port: 5432, label: 'PostgreSQL', connect: (l) => `psql -h 127.0.0.1 -p ${l} -U USER DBNAME` },
  { name: 'vnc', port: 5900, label: 'VNC', connect: (l) => `vncviewer 127.0.0.1::${l}` },
  { name: 'redis', port: 6379, label: 'Redis', connect: (l) => `redis-cli -h 127.0.0.1 -p ${l}` },
  { name: 'mongodb', port: 27017, label: 'MongoDB', connect: (l) => `mongosh "mongodb://127.0.0.1:${l}"` },
];

const serviceByName = (name: string) => SERVICES.find((s) => s.name === name);
const serviceByPort = (port: number) => SERVICES.find((s) => s.port === port);

export interface Scenario {
  name: string;
  description: string;
  /** Default service ports; empty: there is no default, the user must choose (web). */
  ports: number[];
  /** A list to choose from (web, nas), by service name. */
  choices?: string[];
  /** An expiry is mandatory (default DEFAULT_TEMPORARY). */
  temporary?: boolean;
  /** The one service of the scenario (names a non-standard --port, e.g. ssh on 2022). */
  service?: string;
}

export const DEFAULT_TEMPORARY = '8h';

export const SCENARIOS: readonly Scenario[] = [
  { name: 'ssh', description: 'SSH to the server machine (port 22)', ports: [22], service: 'ssh' },
  { name: 'rdp', description: 'Windows Remote Desktop (port 3389)', ports: [3389], service: 'rdp' },
  { name: 'vnc', description: 'VNC remote desktop (port 5900)', ports: [5900], service: 'vnc' },
  { name: 'postgres', description: 'PostgreSQL (port 5432)', ports: [5432], service: 'postgres' },
  { name: 'mysql', description: 'MySQL / MariaDB (port 3306)', ports: [3306], service: 'mysql' },
  { name: 'redis', description: 'Redis (port 6379)', ports: [6379], service: 'redis' },
  { name: 'mongodb', description: 'MongoDB (port 27017)', ports: [27017], service: 'mongodb' },
  { name: 'web', description: 'a web server: port 80 (http) or 443 (https), you choose', ports: [], choices: ['http', 'https'] },
  { name: 'nas', description: 'a NAS: choose among SMB 445, web UI 5000/5001, SSH 22, rsync 873', ports: [445, 5001], choices: ['smb', 'webui', 'webui-https', 'ssh', 'rsync'] },
  { name: 'contractor', description: `temporary access for someone else (expires, default ${DEFAULT_TEMPORARY}; default port 22)`, ports: [22], temporary: true },
];

const ALIASES: Record<string, string> = { temporary: 'contractor', temp: 'contractor', postgresql: 'postgres', mongo: 'mongodb', mariadb: 'mysql', http: 'web', https: 'web' };

export function findScenario(name: string): Scenario {
  const key = name.trim().toLowerCase();
  const scenario = SCENARIOS.find((s) => s.name === (ALIASES[key] ?? key));
  if (!scenario) {
    throw invalid(`unknown scenario ${JSON.stringify(name)}: choose one of ${SCENARIOS.map((s) => s.name).join(', ')} (temporary = contractor)`, { option: 'scenario' });
  }
  return scenario;
}

function invalid(message: string, details: Record<string, unknown> = {}): ToxtunnelError {
  return new ToxtunnelError('INIT_INVALID', message, details);
}

/** The conventional local port: ssh → 2222; another port below 1024 → port + 10000; else the same. */
export function defaultLocalPort(port: number): number {
  if (port === 22) return 2222;
  return port < 1024 ? port + 10000 : port;
}

function parsePortNumber(text: string, option: string): number {
  const t = text.trim();
  const n = /^\d+$/.test(t) ? Number(t) : NaN;
  if (!Number.isInteger(n) || n < 1 || n > 65535) throw invalid(`${option}: ${JSON.stringify(t)} is not a port (a number 1..65535)`, { option });
  return n;
}

/** A port number or a known service name (ssh, https, smb, …). */
function parsePortOrService(text: string, option: string): number {
  const t = text.trim().toLowerCase();
  const service = serviceByName(t);
  if (service) return service.port;
  if (!/^\d+$/.test(t)) {
    throw invalid(`${option}: ${JSON.stringify(text.trim())} is neither a port number nor a known service (${SERVICES.map((s) => s.name).join(', ')})`, { option });
  }
  return parsePortNumber(t, option);
}

/** "22,443", "ssh,https", or "all" / "*" (every port: broad). */
export function parsePortList(text: string | number | Array<string | number>, option = '--ports'): number[] | 'all' {
  const items = (Array.isArray(text) ? text.map(String) : String(text).split(',')).map((s) => s.trim()).filter((s) => s !== '');
  if (items.length === 1 && /^(all|\*)$/i.test(items[0]!)) return 'all';
  if (items.length === 0) throw invalid(`${option}: give at least one port, e.g. ${option} 22,443`, { option });
  const ports = items.map((item) => parsePortOrService(item, option));
  return [...new Set(ports)];
}

const HOST_CHARS = /^[a-z0-9._:*%-]+$/;

/**
 * The host the rule allows, normalized like the rules file does (lower case, no brackets,
 * no trailing dot). A CIDR subnet on an octet boundary becomes its pattern (10.0.0.0/8 → 10.*).
 */
export function parseHost(text: string, option = '--host'): string {
  let host = text.trim().toLowerCase();
  const cidr = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})\/(\d{1,2})$/.exec(host);
  if (cidr) {
    const octets = cidr.slice(1, 5).map(Number);
    const bits = Number(cidr[5]);
    if (octets.some((o) => o > 255) || bits > 32) throw invalid(`${option}: ${JSON.stringify(text.trim())} is not a valid IPv4 subnet`, { option });
    if (bits === 32) return octets.join('.');
    if (bits === 0) return '*';
    if (bits % 8 !== 0) {
      throw invalid(`${option}: ${JSON.stringify(text.trim())}: rules match hosts by name, address or a pattern with one "*", not by CIDR; name the exact address (or, broad, a /8, /16 or /24 pattern such as ${octets.slice(0, Math.max(1, Math.floor(bits / 8))).join('.')}.*)`, { option });
    }
    return `${octets.slice(0, bits / 8).join('.')}.*`;
  }
  if (host.startsWith('[') && host.endsWith(']')) host = host.slice(1, -1);
  if (host.endsWith('.') && host.length > 1) host = host.slice(0, -1);
  if (host === '') throw invalid(`${option}: the host is empty (the default, 127.0.0.1, is the server machine itself)`, { option });
  if (!HOST_CHARS.test(host)) throw invalid(`${option}: ${JSON.stringify(text.trim())} is not a host name or address`, { option });
  if ((host.match(/\*/g) ?? []).length > 1) throw invalid(`${option}: ${JSON.stringify(text.trim())} has more than one "*" (rules allow one wildcard, at the start and/or end)`, { option });
  return host;
}

/** The client's public key: 64 hex, or its whole 76-hex Tox ID (its first 64 are the key). */
export function parseClientKey(text: string): string {
  const t = text.trim();
  if (t.length === 76) {
    try {
      return parseToxId(t).publicKeyHex;
    } catch (error) {
      throw invalid(`--client-key: ${(error as Error).message}`, { option: '--client-key' });
    }
  }
  try {
    parsePublicKey(t);
  } catch (error) {
    throw invalid(
      `--client-key: ${(error as Error).message}; expected the client's public key: the first 64 hex characters of its Tox ID (toxtunnel print-id on the client)`,
      { option: '--client-key' },
    );
  }
  return t.toUpperCase();
}

/** The server's whole Tox ID (76 hex, checksum verified). */
export function parseServerId(text: string): string {
  const t = text.trim();
  if (t.length === 64 && /^[0-9a-fA-F]+$/.test(t)) {
    throw invalid('--server-id: that is a 64-character public key; the client needs the whole 76-character Tox ID (toxtunnel print-id on the server)', { option: '--server-id' });
  }
  try {
    return parseToxId(t).text;
  } catch (error) {
    throw invalid(`--server-id: ${(error as Error).message} (toxtunnel print-id on the server prints it)`, { option: '--server-id' });
  }
}

const UNIT_MS: Record<string, number> = { m: 60_000, h: 3_600_000, d: 86_400_000, w: 604_800_000 };

/**
 * An expiry: a duration from `now` ("8h", "30m", "2d", "1w", "1d12h") or an ISO 8601 time
 * ("2026-12-31T18:00:00Z"). Must be in the future. "never"/"none" → undefined.
 */
export function parseExpires(text: string | Date, now: Date = new Date()): Date | undefined {
  let at: Date;
  if (text instanceof Date) at = text;
  else {
    const t = text.trim().toLowerCase();
    if (t === 'never' || t === 'none' || t === '') return undefined;
    if (/^(\d+\s*[mhdw]\s*)+$/.test(t)) {
      let ms = 0;
      for (const m of t.matchAll(/(\d+)\s*([mhdw])/g)) ms += Number(m[1]) * UNIT_MS[m[2]!]!;
      at = new Date(now.getTime() + ms);
    } else if (/^\d{4}-\d{2}-\d{2}/.test(t)) {
      at = new Date(text.trim());
    } else {
      throw invalid(`--expires: ${JSON.stringify(text.trim())} is neither a duration (30m, 8h, 2d, 1w) nor an ISO 8601 time such as 2026-12-31T18:00:00Z`, { option: '--expires' });
    }
  }
  if (Number.isNaN(at.getTime())) throw invalid(`--expires: ${JSON.stringify(String(text))} is not a valid time`, { option: '--expires' });
  if (at.getTime() <= now.getTime()) throw invalid(`--expires: ${isoSeconds(at)} is not in the future`, { option: '--expires' });
  // The rules file keeps whole seconds; round up so the written time is never earlier.
  return new Date(Math.ceil(at.getTime() / 1000) * 1000);
}

export interface InitOptions {
  scenario: string;
  /** The host the client may reach, as the server sees it. Default 127.0.0.1 (the server itself). */
  host?: string;
  /** One service port (replaces the scenario's default). */
  port?: string | number;
  /** Several ports or service names ("445,5001", "smb,ssh"), or "all" (broad). */
  ports?: string | Array<string | number>;
  /** The client's local port(s): one, or one per port ("2222" or "10445,5001"). */
  localPort?: string | number;
  /** The client's public key (64 hex) or whole Tox ID; absent: placeholder. */
  clientKey?: string;
  /** The server's Tox ID (76 hex); absent: placeholder. */
  serverId?: string;
  /** "8h", "2d", an ISO time, a Date, or "never". Mandatory for contractor (default 8h). */
  expires?: string | Date;
  /** Write a broad rule (with warnings) instead of refusing it. */
  allowBroad?: boolean;
  /** Where the files go, for the printed next steps only. */
  outDir?: string;
  now?: Date;
}

export interface InitFile {
  name: 'server.yaml' | 'client.yaml' | 'rules.yaml';
  text: string;
  /** File mode: 0o600 for rules.yaml, 0o644 for the others. */
  mode: number;
}

export interface InitPlan {
  files: InitFile[];
  warnings: string[];
  nextSteps: string[];
  /** What the files say, for callers and tests. */
  model: InitModel;
}

/** The ports a scenario will forward and allow, from --port/--ports or its defaults. */
function choosePorts(scenario: Scenario, options: InitOptions): { forwardPorts: number[]; rulePorts: number[] | 'all' } {
  const list = options.ports !== undefined ? parsePortList(options.ports) : undefined;
  const single = options.port !== undefined ? parsePortOrService(String(options.port), '--port') : undefined;
  if (list !== undefined && list !== 'all' && single !== undefined) throw invalid('give --port or --ports, not both (--ports all may go with --port, which then picks the forward)', { option: '--ports' });
  const explicit = single !== undefined ? [single] : list !== undefined && list !== 'all' ? list : undefined;
  const forwardPorts = explicit ?? scenario.ports;
  if (forwardPorts.length === 0) {
    const choices = (scenario.choices ?? []).map((c) => `${c} ${serviceByName(c)!.port}`).join(', ');
    throw invalid(`the ${scenario.name} scenario needs its port: --port 80 or --port 443 (or --ports 80,443)${choices ? `; choices: ${choices}` : ''}`, { option: '--port' });
  }
  return { forwardPorts, rulePorts: list === 'all' ? 'all' : forwardPorts };
}

function chooseLocalPorts(ports: number[], localPort: InitOptions['localPort']): number[] {
  let locals: number[];
  if (localPort === undefined) locals = ports.map(defaultLocalPort);
  else {
    const items = String(localPort).split(',').map((s) => s.trim()).filter((s) => s !== '');
    if (items.length !== ports.length) {
      throw invalid(`--local-port: give one local port per service port (${ports.join(', ')}), e.g. --local-port ${ports.map(defaultLocalPort).join(',')}`, { option: '--local-port' });
    }
    locals = items.map((item) => parsePortNumber(item, '--local-port'));
  }
  const seen = new Set<number>();
  for (const l of locals) {
    if (seen.has(l)) throw invalid(`--local-port: local port ${l} is used twice; give each service port its own local port (--local-port a,b in the order of the ports ${ports.join(', ')})`, { option: '--local-port' });
    seen.add(l);
  }
  return locals;
}

/** One machine a pattern covers, for the narrower alternative: 192.168.* → 192.168.0.10. */
function exampleHost(pattern: string): string {
  const ip = /^((?:\d{1,3}\.){1,3})\*$/.exec(pattern);
  if (ip) {
    const octets = ip[1]!.split('.').filter((o) => o !== '');
    while (octets.length < 3) octets.push('0');
    return [...octets, '10'].join('.');
  }
  return pattern.replace('*', 'server');
}

/** The service on a port: the well-known one, else the scenario's own (ssh --port 2022). */
const serviceOf = (scenario: Scenario, port: number) => serviceByPort(port) ?? (scenario.service ? serviceByName(scenario.service) : undefined);

export function planInit(options: InitOptions): InitPlan {
  const now = options.now ?? new Date();
  const scenario = findScenario(options.scenario);
  const host = parseHost(options.host ?? '127.0.0.1');
  const { forwardPorts, rulePorts } = choosePorts(scenario, options);
  const clientKey = options.clientKey !== undefined && String(options.clientKey).trim() !== '' ? parseClientKey(String(options.clientKey)) : undefined;
  const serverId = options.serverId !== undefined && String(options.serverId).trim() !== '' ? parseServerId(String(options.serverId)) : undefined;
  if (clientKey && serverId && serverId.startsWith(clientKey)) {
    throw invalid("--client-key is the server's own key (the start of --server-id): give the client's key (toxtunnel print-id on the client)", { option: '--client-key' });
  }
  const expiresText = options.expires ?? (scenario.temporary ? DEFAULT_TEMPORARY : undefined);
  const expires = expiresText === undefined ? undefined : parseExpires(expiresText, now);
  if (scenario.temporary && expires === undefined) {
    throw invalid(`the ${scenario.name} scenario is temporary access: it needs an expiry (--expires 8h, 2d, or an ISO time; default ${DEFAULT_TEMPORARY}), not "never"`, { option: '--expires' });
  }

  // Least privilege: refuse (or, with allowBroad, warn about) anything wider than host:ports.
  const pattern = host.includes('*');
  const broad: string[] = [];
  if (host === '*' && rulePorts === 'all') {
    throw new ToxtunnelError(
      'INIT_BROAD_REFUSED',
      'refusing to allow any host on any port, even with --allow-broad: that is what a server without a rules file does. Name the host (--host) and the ports (--ports).',
      { broad: ['any host, any port'], always: true },
    );
  }
  if (pattern) {
    const example = host === '*' ? 'db.internal or 192.168.1.10' : exampleHost(host);
    broad.push(
      `the rule would let the client reach ANY host matching "${host}"${rulePorts === 'all' ? '' : ` on port(s) ${rulePorts.join(', ')}`}${host === '*' ? ' (the whole internet and your LAN)' : ''}. Narrower: name the one machine, e.g. --host ${example}.`,
    );
  }
  if (rulePorts === 'all') {
    broad.push(`the rule would let the client reach EVERY port of "${host}", not only ${forwardPorts.join(', ')}. Narrower: --ports ${forwardPorts.join(',')} (list exactly the ports needed).`);
  }
  if (broad.length > 0 && !options.allowBroad) {
    throw new ToxtunnelError(
      'INIT_BROAD_REFUSED',
      `refusing to write a broad rule: ${broad.join(' ')} Re-run with --allow-broad if you really mean it.`,
      { broad },
    );
  }
  const warnings = broad.map((b) => `broad access (--allow-broad): ${b}`);

  // The client: one forward per port to the exact host; a SOCKS proxy when the host is a pattern
  // (no single forward target) or every port is allowed (to reach the others).
  const locals = pattern ? [] : chooseLocalPorts(forwardPorts, options.localPort);
  const labelOf = (port: number) => serviceOf(scenario, port)?.label ?? `port ${port}`;
  const forwards: ForwardModel[] = pattern ? [] : forwardPorts.map((p, i) => ({ label: labelOf(p), service: serviceOf(scenario, p)?.name, localPort: locals[i]!, remoteHost: host, remotePort: p }));
  const socksPort = pattern ? (options.localPort !== undefined ? parsePortNumber(String(options.localPort), '--local-port') : 1080) : rulePorts === 'all' ? 1080 : undefined;
  if (socksPort !== undefined && locals.includes(socksPort)) throw invalid(`--local-port: ${socksPort} is also the SOCKS proxy's port; choose another`, { option: '--local-port' });
  locals.forEach((l, i) => {
    if (l < 1024) warnings.push(`local port ${l} is below 1024: the client needs administrator rights to listen there (the default would be ${defaultLocalPort(forwardPorts[i]!)}).`);
  });

  const portLabels: Record<number, string> = {};
  for (const p of forwardPorts) portLabels[p] = labelOf(p);
  const model: InitModel = { scenario: scenario.name, host, ports: rulePorts, portLabels, forwards, socksPort, clientKey, serverId, expires };
  const files: InitFile[] = [
    { name: 'server.yaml', text: renderServerYaml(model), mode: 0o644 },
    { name: 'client.yaml', text: renderClientYaml(model), mode: 0o644 },
    { name: 'rules.yaml', text: renderRulesYaml(model), mode: 0o600 },
  ];
  return { files, warnings, nextSteps: nextSteps(model, options.outDir ?? '.'), model };
}

function nextSteps(model: InitModel, outDir: string): string[] {
  const path = (name: string) => (outDir === '.' ? name : `${outDir.replace(/\/+$/, '')}/${name}`);
  const steps: string[] = [];
  if (!model.clientKey) {
    steps.push(
      `Fill in the client's public key in ${path('rules.yaml')} (${CLIENT_KEY_PLACEHOLDER}): on the client run \`toxtunnel print-id --public-key -c ${path('client.yaml')}\` (its 64 hex characters). Until then rules.yaml does not load and the server refuses to start — on purpose.`,
    );
  }
  if (!model.serverId) {
    steps.push(
      `Fill in the server's Tox ID in ${path('client.yaml')} (${SERVER_ID_PLACEHOLDER}): on the server run \`toxtunnel print-id -c ${path('server.yaml')}\` and copy all 76 characters. Until then client.yaml does not load — on purpose.`,
    );
  }
  steps.push(
    `On the server machine, keep ${path('server.yaml')} and ${path('rules.yaml')} together and run: toxtunnel -c ${path('server.yaml')}`,
    `On the client machine, run: toxtunnel -c client.yaml (copy ${path('client.yaml')} there)`,
  );
  for (const f of model.forwards) {
    const service = f.service ? serviceByName(f.service) : undefined;
    steps.push(`${f.label}: ${service ? service.connect(f.localPort) : `connect to 127.0.0.1:${f.localPort}`}`);
  }
  if (model.socksPort !== undefined) steps.push(`Other targets the rule allows: through the SOCKS5 proxy socks5://127.0.0.1:${model.socksPort} (e.g. curl --socks5-hostname 127.0.0.1:${model.socksPort} …)`);
  if (model.expires) {
    const when = isoSeconds(model.expires);
    const who = model.clientKey ? `friend_pk ${model.clientKey.slice(0, 8)}…` : 'the client';
    steps.push(
      `Temporary access: the rule expires at ${when}; then the server drops the client and closes its tunnels by itself.`,
      `To revoke it earlier: delete the rule of ${who} from ${path('rules.yaml')} (the lines from "- friend_pk:" to "expires:"; leaving "rules:" empty is fine) and save — the running server reloads the file automatically and closes that friend's tunnels within a second.`,
      'If the server did not notice the change (e.g. the file was edited on another machine and copied over a network share), make it reload: kill -HUP <pid of the server> (toxtunnel status -d <server data dir> shows what is open).',
    );
  }
  return steps;
}
