// SPDX-License-Identifier: GPL-3.0-or-later
/**
 * `toxtunnel doctor`: the local checks, bottom up — the runtime and the wasm engine, the
 * config, the server's rules file, the data directory and identity, the local ports (or the
 * toxtunnel already running with this data directory). The network checks (Tox DHT, the
 * server friend, probes through the tunnel) are in ./network.ts; ./doctor.ts runs them in
 * order and stops at the first broken layer.
 *
 * Every check is a small function returning CheckResult(s): what was found (`detail`) and,
 * when something is wrong, what to do about it (`fix`). Nothing here changes a file: the
 * identity is read with a Tox node that opens no socket (UDP off, no relay port).
 */
import { accessSync, constants, readFileSync, statSync } from 'node:fs';
import net from 'node:net';
import { lockHolder } from '../app/data-dir-lock.ts';
import { saveFilePath } from '../app/identity.ts';
import { VERSION } from '../version.ts';
import { type RuntimeName, runtimeName } from '../runtime.ts';
import { osErrorText } from '../os-errors.ts';
import { type CliFlags, type ResolvedConfig, resolveConfig } from '../config/config.ts';
import type { HostPattern } from '../config/host-pattern.ts';
import { loadRules, RULES_CODES, type RuleSet } from '../config/rules.ts';
import { type TuntoxRules, tuntoxRulesIn } from '../tuntox/rules-file.ts';
import { parseYamlDocument } from '../config/yaml-document.ts';
import { controlRequest } from '../control/control-client.ts';
import { controlSocketPath } from '../control/control-protocol.ts';
import { isToxtunnelError } from '../errors.ts';
import { ToxNode } from '../tox/tox-node.ts';
import { hasWasmSimd, loadToxcore } from '../wasm/module.ts';

export type CheckStatus = 'pass' | 'warn' | 'fail' | 'skip';

export interface CheckResult {
  name: string;
  status: CheckStatus;
  detail: string;
  /** What to do (present on warn and fail; lines separated by "\n"). */
  fix?: string;
}

export const pass = (name: string, detail: string): CheckResult => ({ name, status: 'pass', detail });
export const warn = (name: string, detail: string, fix: string): CheckResult => ({ name, status: 'warn', detail, fix });
export const fail = (name: string, detail: string, fix: string): CheckResult => ({ name, status: 'fail', detail, fix });
export const skip = (name: string, detail: string): CheckResult => ({ name, status: 'skip', detail });

const errorText = (error: unknown) => (error instanceof Error ? error.message : String(error));
const short = (key: string) => `${key.slice(0, 8)}…`;
const octal = (mode: number) => `0${(mode & 0o777).toString(8).padStart(3, '0')}`;

// --- 1. runtime and engine ----------------------------------------------------------------

export const DOCTOR_VERSION = VERSION;

export interface RuntimeInfo {
  runtime: RuntimeName;
  version: string;
  randomValues: boolean;
  wasmSimd: boolean;
}

export function runtimeInfo(): RuntimeInfo {
  const g = globalThis as { Bun?: { version?: string }; Deno?: { version?: { deno?: string } } };
  const randomValues = typeof globalThis.crypto?.getRandomValues === 'function';
  const runtime = runtimeName();
  const version = runtime === 'bun' ? g.Bun?.version : runtime === 'deno' ? g.Deno?.version?.deno : process.versions.node;
  return { runtime, version: version ?? '?', randomValues, wasmSimd: hasWasmSimd() };
}

/** Node >= 20 (or Bun, or Deno), with crypto.getRandomValues (toxcore's only randomness) and WebAssembly SIMD (the packet cipher). */
export function checkRuntime(info: RuntimeInfo = runtimeInfo()): CheckResult {
  const what = `${info.runtime === 'node' ? 'Node' : info.runtime === 'bun' ? 'Bun' : 'Deno'} ${info.version}, toxtunnel ${DOCTOR_VERSION}`;
  if (info.runtime === 'node' && Number(info.version.split('.')[0]) < 20) {
    return fail('runtime', `${what}: Node ${info.version} is too old (toxtunnel needs Node 20 or later)`, 'install Node 20 or later (https://nodejs.org), or run the same bundle with Bun or Deno');
  }
  if (!info.randomValues) {
    return fail('runtime', `${what}: crypto.getRandomValues is missing (toxtunnel takes every random byte from it)`, 'use Node 20 or later, Bun or Deno: their Web Crypto provides it');
  }
  if (!info.wasmSimd) {
    return fail('runtime', `${what}: WebAssembly SIMD is missing (toxtunnel's packet encryption uses 128-bit vectors)`, 'use Node 20 or later, Bun or Deno: each has WebAssembly SIMD');
  }
  return pass('runtime', `${what}, crypto.getRandomValues and WebAssembly SIMD present`);
}

/** The embedded c-toxcore WebAssembly module instantiates. */
export async function checkToxcore(): Promise<CheckResult> {
  const started = Date.now();
  try {
    await loadToxcore();
    return pass('toxcore', `the c-toxcore WebAssembly module loads (${Date.now() - started} ms)`);
  } catch (error) {
    return fail('toxcore', `the c-toxcore WebAssembly module does not load: ${errorText(error)}`, 'the bundle is incomplete or damaged: reinstall toxtunnel (from a checkout: ./build.sh)');
  }
}

// --- 2. config ------------------------------------------------------------------------------

/** resolveConfig with the run command's flags; its error names the file, line and key. */
export function checkConfig(flags: CliFlags, env: Record<string, string | undefined>): { result: CheckResult; config?: ResolvedConfig } {
  let config: ResolvedConfig;
  try {
    config = resolveConfig(flags, env);
  } catch (error) {
    const details = isToxtunnelError(error) ? error.details : {};
    const file = typeof details.file === 'string' ? details.file : undefined;
    const line = typeof details.line === 'number' ? details.line : undefined;
    const fix = file
      ? `edit ${file}${line !== undefined ? ` at line ${line}` : ''}; docs/config.md lists every key and value`
      : 'correct the flag or environment variable named above; toxtunnel --help and docs/config.md list them';
    return { result: fail('config', errorText(error), fix) };
  }
  const parts = [`${config.mode} mode`, config.configFile ? `from ${config.configFile}` : 'no config file', `data dir ${config.dataDir}`];
  if (config.mode === 'client') {
    const what = [
      config.forwards.length ? `${config.forwards.length} forward(s)` : '',
      config.reverse.length ? `${config.reverse.length} reverse forward(s)` : '',
      config.socks.length ? `${config.socks.length} SOCKS proxy(ies)` : '',
      config.pipe ? `pipe to ${config.pipe.host}:${config.pipe.port}` : '',
    ].filter(Boolean);
    parts.push(what.join(', '));
  }
  const nodes = config.bootstrapNodes.length;
  parts.push(`bootstrap ${config.bootstrapMode}${nodes ? ` + ${nodes} listed node(s)` : ''}`);
  return { result: pass('config', parts.join('; ')), config };
}

// --- the identity, read once (rules lint and identity check share it) ------------------------

export interface IdentityInfo {
  dataDir: string;
  path: string;
  dir: { exists: boolean; isDirectory: boolean; mode: number; uid: number } | undefined;
  file: { mode: number; uid: number } | undefined;
  /** The save data when it loads. */
  savedata: Uint8Array | undefined;
  toxId: string | undefined;
  publicKey: string | undefined;
  /** Friends' public keys (upper-case hex), when the save data loads. */
  friends: string[] | undefined;
  /** Why the file could not be read or loaded. */
  problem: { code: string; message: string } | undefined;
}

/** Reads data_dir/tox_save.dat and loads it into a node that opens no socket (UDP off, no relay). */
export async function inspectIdentity(dataDir: string): Promise<IdentityInfo> {
  const path = saveFilePath(dataDir);
  const info: IdentityInfo = { dataDir, path, dir: undefined, file: undefined, savedata: undefined, toxId: undefined, publicKey: undefined, friends: undefined, problem: undefined };
  try {
    const s = statSync(dataDir);
    info.dir = { exists: true, isDirectory: s.isDirectory(), mode: s.mode & 0o7777, uid: s.uid };
  } catch {
    return info;
  }
  let bytes: Buffer;
  try {
    const s = statSync(path);
    info.file = { mode: s.mode & 0o777, uid: s.uid };
    bytes = readFileSync(path);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code ?? 'EIO';
    if (code !== 'ENOENT') info.problem = { code: 'IDENTITY_UNREADABLE', message: `cannot read ${path}: ${osErrorText(error)}` };
    return info;
  }
  // An empty file holds no identity: run and print-id make one and save it over the file.
  if (bytes.byteLength === 0) {
    info.file = undefined;
    return info;
  }
  const savedata = new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  let node: ToxNode | undefined;
  try {
    node = await ToxNode.create({ udp: false, tcpPort: 0, localDiscovery: false, savedata });
    info.savedata = savedata;
    info.toxId = node.address.text;
    info.publicKey = node.publicKey;
    info.friends = node.friends().map((f) => node!.friendPublicKey(f)).filter((k): k is string => k !== undefined).map((k) => k.toUpperCase());
  } catch (error) {
    info.problem = { code: isToxtunnelError(error) ? error.code : 'TOX_NEW_FAILED', message: `${path}: ${errorText(error)}` };
  } finally {
    node?.close();
  }
  return info;
}

// --- 3. rules lint (server) ------------------------------------------------------------------

/** The rules file loads; its entries are linted (over-broad, expired, unknown friends). */
export function checkRules(config: ResolvedConfig, identity: IdentityInfo | undefined, now = new Date()): CheckResult[] {
  if (!config.rulesFile) {
    const guard = config.whitelist ? ' (the whitelist limits who may become a friend)' : config.sharedSecret !== undefined ? ' (the shared secret limits who may become a friend)' : '';
    return [
      warn(
        'rules',
        `no rules file: every friend may reach every host and port the server can reach${guard}`,
        'set server.rules_file in the server config (docs/config.md, "Rules file"); `toxtunnel init` writes one for common services',
      ),
    ];
  }
  let rules: RuleSet;
  try {
    const tuntox = tuntoxRulesIn(config.rulesFile);
    if (tuntox) return checkTuntoxRules(tuntox, config);
    rules = loadRules(config.rulesFile);
  } catch (error) {
    return [fail('rules', errorText(error), `fix ${config.rulesFile} (docs/config.md, "Rules file"); a running server keeps its old rules until the file loads`)];
  }
  const keys = new Set(rules.rules.map((r) => r.friend));
  const results = [pass('rules', `${rules.rules.length} rule(s) for ${keys.size} friend(s) from ${config.rulesFile}`)];
  return results.concat(lintRules(rules, config.rulesFile, identity?.friends, now));
}

/** A tuntox-format rules file (-f): its skipped lines, and who its rules apply to. */
function checkTuntoxRules(rules: TuntoxRules, config: ResolvedConfig): CheckResult[] {
  const results = [pass('rules', `${rules.rules.length} tuntox rule(s) (host:port, for every accepted friend) from ${config.rulesFile}`)];
  for (const warning of rules.warnings) results.push(warn('rules', warning, 'write host:port with a port 1..65534 (docs/tuntox.md, "Rules file")'));
  if (config.sharedSecret === undefined && !config.whitelist) {
    results.push(warn('rules', 'tuntox rules apply to every friend, and neither a shared secret nor a whitelist limits who may become one', 'set -s SECRET (or server.shared_secret) or -i TOXID, or write a YAML rules file keyed by friend (docs/tuntox.md)'));
  }
  return results;
}

/** Where rule entries are (line numbers), from the file's YAML; best effort. */
function ruleLines(file: string): (path: Array<string | number>) => number | undefined {
  try {
    const doc = parseYamlDocument(readFileSync(file, 'utf8'), file, RULES_CODES);
    return (path) => doc.find(path)?.line;
  } catch {
    return () => undefined;
  }
}

/** Why a host pattern is broad, or undefined. */
function broadHost(host: HostPattern, listen: boolean): string | undefined {
  if (host.kind === 'any') return listen ? 'any loopback address' : 'any host';
  if (host.kind === 'name-wildcard') return host.suffix === '' ? `every name starting with "${host.prefix}"` : undefined;
  if (host.kind !== 'cidr') return undefined;
  const bits = host.family === 'ipv4' ? 32 : 128;
  if (host.prefix === 0) return listen ? 'every interface (reachable from the network)' : `every ${host.family === 'ipv4' ? 'IPv4' : 'IPv6'} address`;
  if (listen && host.bytes.every((b) => b === 0)) return 'every interface (reachable from the network)';
  if (host.prefix < bits) return `the whole address range ${host.text}`;
  return undefined;
}

export function lintRules(rules: RuleSet, file: string, friends: string[] | undefined, now = new Date()): CheckResult[] {
  const out: CheckResult[] = [];
  const lineOf = ruleLines(file);
  const at = (path: Array<string | number>) => {
    const line = lineOf(path);
    return line === undefined ? file : `${file}:${line}`;
  };
  const expiredKeys = new Set<string>();
  rules.rules.forEach((rule, i) => {
    const who = `rules[${i}] (friend ${short(rule.friend)})`;
    if (rule.expires !== undefined && rule.expires <= now) {
      expiredKeys.add(rule.friend);
      out.push(
        warn('rules lint', `${at(['rules', i])}: ${who} expired at ${rule.expires.toISOString()}: it is ignored`, `remove the rule, or move its "expires" into the future if the friend still needs access`),
      );
      return;
    }
    rule.allow.forEach((entry, j) => {
      const reasons = [broadHost(entry.host, false), entry.ports.length === 0 ? 'every port' : undefined].filter(Boolean);
      if (reasons.length === 0) return;
      out.push(
        warn(
          'rules lint',
          `${at(['rules', i, 'allow', j])}: ${who} allow host "${entry.host.text}"${entry.ports.length ? ` ports [${entry.ports.join(', ')}]` : ''} is over-broad: it opens ${reasons.join(' on ')}`,
          `allow only what the friend needs: name the host (e.g. host: 127.0.0.1) and list its ports (e.g. ports: [22])`,
        ),
      );
    });
    rule.listen.forEach((entry, j) => {
      const reasons = [broadHost(entry.host, true), entry.ports.length === 0 ? 'any port' : undefined].filter(Boolean);
      if (reasons.length === 0) return;
      out.push(
        warn(
          'rules lint',
          `${at(['rules', i, 'listen', j])}: ${who} listen bind "${entry.host.text}"${entry.ports.length ? ` ports [${entry.ports.join(', ')}]` : ''} is over-broad: the server may listen on ${reasons.join(' on ')} for this friend`,
          'let the server listen only where needed: bind 127.0.0.1 (the default) and list the ports (e.g. ports: [8080])',
        ),
      );
    });
  });
  if (friends !== undefined) {
    const known = new Set(friends);
    const warned = new Set<string>();
    rules.rules.forEach((rule, i) => {
      if (known.has(rule.friend) || warned.has(rule.friend) || expiredKeys.has(rule.friend)) return;
      warned.add(rule.friend);
      out.push(
        warn(
          'rules lint',
          `${at(['rules', i])}: rules[${i}] is for ${rule.friend}, which is not in the server's friend list: that client has not connected yet, or the key is wrong`,
          'compare it with the first 64 characters of the client\'s Tox ID (`toxtunnel print-id` on the client); the client becomes a friend when it first connects',
        ),
      );
    });
    for (const key of friends) {
      if (rules.admits(key, now) || expiredKeys.has(key)) continue;
      out.push(
        warn(
          'rules lint',
          `friend ${key} is in the server's friend list but has no rule in force: the server removes it when it starts`,
          `add a rule with friend_pk: ${key} if that client should keep its access, otherwise nothing to do`,
        ),
      );
    }
  }
  return out;
}

// --- 4. data dir and identity ---------------------------------------------------------------

export function checkDataDir(identity: IdentityInfo): CheckResult {
  const { dataDir, dir } = identity;
  if (!dir) return pass('data dir', `${dataDir} does not exist yet: it is created (mode 0700) on the first run`);
  if (!dir.isDirectory) return fail('data dir', `${dataDir} is not a directory`, `move it away, or point data_dir (-d) at a directory`);
  const problems: string[] = [];
  const fixes: string[] = [];
  if (dir.mode & 0o002) {
    problems.push(`it is world-writable (${octal(dir.mode)}): anyone may replace tox_save.dat`);
    fixes.push(`chmod 700 ${dataDir}`);
  } else if (dir.mode & 0o020) {
    problems.push(`it is group-writable (${octal(dir.mode)})`);
    fixes.push(`chmod 700 ${dataDir}`);
  }
  const uid = process.getuid?.();
  if (uid !== undefined && uid !== 0 && dir.uid !== uid) {
    problems.push(`it belongs to uid ${dir.uid}, not to you (uid ${uid})`);
    fixes.push('run toxtunnel (and doctor) as the user that owns it, or chown it');
  }
  try {
    accessSync(dataDir, constants.W_OK);
  } catch {
    problems.push('we cannot write to it (the identity and friend list are saved there)');
    if (!fixes.length) fixes.push(`chmod u+w ${dataDir}, or run as its owner`);
  }
  if (problems.length) return warn('data dir', `${dataDir}: ${problems.join('; ')}`, fixes.join('\n'));
  return pass('data dir', `${dataDir} (${octal(dir.mode)})`);
}

export function checkIdentity(identity: IdentityInfo, mode: 'server' | 'client'): CheckResult {
  const { path, file, problem } = identity;
  if (identity.dir && !identity.dir.isDirectory) return skip('identity', `${identity.dataDir} is not a directory`);
  if (problem) {
    const fix =
      problem.code === 'TOX_SAVEDATA_ENCRYPTED'
        ? 'decrypt it with the program that encrypted it: toxtunnel reads plain toxcore save data'
        : problem.code === 'IDENTITY_UNREADABLE'
          ? `run as the user that owns ${path} (ls -l shows it), or fix its permissions: chmod 600 ${path}`
          : `restore ${path} from a backup; or move it away (mv ${path} ${path}.bad) to create a new identity — then ${mode === 'server' ? 'every client needs the new Tox ID' : 'the server needs the new public key in its rules'}`;
    return fail('identity', problem.message, fix);
  }
  if (!file) {
    const who = mode === 'server' ? 'clients need its Tox ID as server_id' : 'the server\'s rules need its public key';
    return warn('identity', `no ${path} yet: a new identity is created on the first run (${who})`, `create it now and see its Tox ID: toxtunnel print-id -d ${identity.dataDir}`);
  }
  const friends = identity.friends?.length ?? 0;
  const what = `${path}: Tox ID ${identity.toxId}, ${friends} friend(s)`;
  if (file.mode & 0o077) {
    return warn('identity', `${what}; mode ${octal(file.mode)} lets other users ${file.mode & 0o044 ? 'read' : 'change'} it, and it holds the secret key`, `chmod 600 ${path}`);
  }
  return pass('identity', `${what} (${octal(file.mode)})`);
}

// --- 5. a running instance, local ports ----------------------------------------------------

export interface RunningInstance {
  /** The instance's `status` answer. */
  status: Record<string, unknown>;
}

/** Asks data_dir/control.sock for `status`: a live answer means a toxtunnel runs with this data dir. */
export async function findRunningInstance(dataDir: string, mode: 'server' | 'client'): Promise<{ result?: CheckResult; running?: RunningInstance; blocked?: boolean }> {
  const path = controlSocketPath(dataDir);
  let answer: unknown;
  try {
    answer = await controlRequest(path, { cmd: 'status' }, 3000);
  } catch (error) {
    const code = isToxtunnelError(error) ? error.code : '';
    if (code === 'CONTROL_NOT_RUNNING' || code === 'CONTROL_PATH_TOO_LONG') {
      const holder = lockHolder(dataDir);
      if (!holder) return {};
      return {
        blocked: true,
        result: warn(
          'running instance',
          `toxtunnel PID ${holder.pid}${holder.mode ? ` (${holder.mode})` : ''} holds ${dataDir}${holder.since ? ` since ${holder.since}` : ''} but its control socket does not answer: the next checks would start a second node with the same identity, so they are skipped`,
          'wait until it has started, or stop it (kill its PID); set control_socket: true to let doctor read its status',
        ),
      };
    }
    if (code === 'CONTROL_ACCESS_DENIED') {
      return {
        blocked: true,
        result: warn('running instance', `a toxtunnel of another user seems to run with ${dataDir}: ${errorText(error)}`, 'run doctor as the user that runs toxtunnel'),
      };
    }
    return {
      blocked: true,
      result: fail('running instance', `something listens on ${path} but does not answer like toxtunnel: ${errorText(error)}`, `if a toxtunnel is stuck there, stop it (kill its PID) and start it again`),
    };
  }
  const status = (typeof answer === 'object' && answer !== null ? answer : {}) as Record<string, unknown>;
  const running = `a toxtunnel ${String(status.mode ?? '?')}${status.pid !== undefined ? ` (PID ${String(status.pid)})` : ''} is running with ${dataDir} (Tox ID ${String(status.toxId ?? '?')}, network ${String(status.network ?? '?')})`;
  if (status.mode !== undefined && status.mode !== mode) {
    return { running: { status }, result: warn('running instance', `${running}, but the config is for a ${mode}`, 'one data dir (one identity) per instance: give this config another data_dir (-d)') };
  }
  return { running: { status }, result: pass('running instance', `${running}; the next checks use its status instead of starting a second node with the same identity`) };
}

interface Listener {
  bind: string;
  port: number;
  what: string;
  /** Held by the running instance whatever its status says (our relay port). */
  instancePort?: boolean;
}

function listenersOf(config: ResolvedConfig): Listener[] {
  const out: Listener[] = [];
  if (config.mode === 'client') {
    for (const f of config.forwards) out.push({ bind: f.bind ?? '127.0.0.1', port: f.localPort, what: `forward to ${f.remoteHost}:${f.remotePort}` });
    for (const s of config.socks) out.push({ bind: s.bind ?? '127.0.0.1', port: s.port, what: 'SOCKS5 proxy' });
  }
  if (config.tcpPort) out.push({ bind: '0.0.0.0', port: config.tcpPort, what: 'our Tox TCP relay (tox.tcp_port)', instancePort: true });
  return out;
}

/** "bind:port" as the running client's status lists its listeners ("127.0.0.1:2222 -> host:port"). */
function listenedByInstance(running: RunningInstance | undefined, l: Listener): boolean {
  if (running && l.instancePort) return true;
  const listeners = running?.status.listeners;
  if (!Array.isArray(listeners)) return false;
  return listeners.some((x) => typeof (x as { listen?: unknown }).listen === 'string' && (x as { listen: string }).listen.startsWith(`${l.bind}:${l.port} `));
}

/** Every local port the config listens on is free (or held by the toxtunnel running with this data dir). */
export async function checkLocalPorts(config: ResolvedConfig, running: RunningInstance | undefined): Promise<CheckResult[]> {
  const listeners = listenersOf(config);
  if (listeners.length === 0) return running ? [] : [pass('local ports', 'no local listener in this config')];
  const results: CheckResult[] = [];
  for (const l of listeners) {
    const name = `local port ${l.bind}:${l.port}`;
    if (l.port === 0) results.push(pass(name, `${l.what}: port 0, any free port is taken at start`));
    else if (listenedByInstance(running, l)) results.push(pass(name, `${l.what}: held by the running toxtunnel`));
    else results.push(await checkPortFree(name, l, config.configFile));
  }
  return results;
}

async function checkPortFree(name: string, l: Listener, configFile: string | undefined): Promise<CheckResult> {
  const error = await tryListen(l.bind, l.port);
  if (!error) return pass(name, `${l.what}: free`);
  const where = configFile ? `in ${configFile} (or the -L/-D flag)` : 'in the -L/-D flag';
  switch (error) {
    case 'EADDRINUSE':
      return fail(name, `${l.what}: port ${l.port} on ${l.bind} is in use by another program`, `stop the program that listens there (\`ss -ltnp 'sport = :${l.port}'\` shows it), or choose another local port ${where}`);
    case 'EACCES':
    case 'EPERM':
      return fail(name, `${l.what}: not allowed to listen on port ${l.port} (ports below 1024 need privileges)`, `use a port from 1024 up ${where}, or grant the runtime CAP_NET_BIND_SERVICE`);
    case 'EADDRNOTAVAIL':
      return fail(name, `${l.what}: ${l.bind} is not an address of this machine`, `use a local address as bind (127.0.0.1, or one \`ip addr\` lists) ${where}`);
    default:
      return fail(name, `${l.what}: cannot listen on ${l.bind}:${l.port}: ${error}`, `check the bind address and port ${where}`);
  }
}

/** Listens on bind:port and closes at once; the error code, or undefined when it worked. */
function tryListen(bind: string, port: number): Promise<string | undefined> {
  return new Promise((resolve) => {
    const server = net.createServer();
    server.once('error', (error: NodeJS.ErrnoException) => resolve(error.code ?? error.message));
    server.listen({ host: bind, port, exclusive: true }, () => server.close(() => resolve(undefined)));
  });
}
