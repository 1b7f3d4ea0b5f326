// SPDX-License-Identifier: GPL-3.0-or-later
/**
 * `toxtunnel doctor`: the network checks — the Tox DHT connection, the server friend online
 * (client), and a probe through the tunnel to every forward's target (client): TUNNEL_OPEN,
 * then the server's ACK(0) ("connected") or its TUNNEL_ERROR text ("Access denied",
 * "TCP connect failed: …: ECONNREFUSED"), closed at once, no data sent.
 *
 * Two ways to look: our own node, started from the config's network options with a copy of
 * the identity in a temporary directory (so tox_save.dat is never rewritten and no local
 * port is listened on), or — when a toxtunnel already runs with this data dir — that
 * instance, through its control socket (status, list) and its local forward ports. Every
 * wait is bounded by the doctor's timeout; nothing the instance logs is printed unless asked.
 */
import { lookup } from 'node:dns/promises';
import { mkdtempSync, rmSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type CarryFailure, PROBE_CLOSED_UNCONFIRMED, ToxtunnelClient } from '../app/client.ts';
import { writeSavedata } from '../app/identity.ts';
import { networkOptions } from '../app/instance.ts';
import type { Logger } from '../app/logger.ts';
import { osErrorText } from '../os-errors.ts';
import { ToxRuntime } from '../app/tox-runtime.ts';
import type { ResolvedConfig } from '../config/config.ts';
import { controlRequest } from '../control/control-client.ts';
import { controlSocketPath } from '../control/control-protocol.ts';
import { isToxtunnelError } from '../errors.ts';
import { Capability, ErrorCode } from '../protocol/frame.ts';
import type { Connection, ToxNode } from '../tox/tox-node.ts';
import { type CheckResult, fail, type IdentityInfo, pass, type RunningInstance, skip, warn } from './checks.ts';

export interface NetworkContext {
  config: ResolvedConfig;
  identity: IdentityInfo;
  /** Bound of every network wait (DHT, server online, each probe). */
  timeoutMs: number;
  log: Logger;
}

/** What the network layers ask; our own node or the running instance answers. */
export interface NetworkSession {
  checkNetwork(): Promise<CheckResult>;
  /** Client: the server friend is online and answers. */
  checkServer(): Promise<CheckResult>;
  /** Client: one probe per forward (and pipe), and the reverse forwards. */
  checkTunnels(): Promise<CheckResult[]>;
  close(): Promise<void>;
}

/** A target the client reaches through the server, and the local end it belongs to. */
export interface Probe {
  host: string;
  port: number;
  /** "forward 127.0.0.1:2222" or "pipe". */
  via: string;
  bind?: string;
  localPort?: number;
}

export function probesOf(config: ResolvedConfig): Probe[] {
  const probes: Probe[] = config.forwards.map((f) => ({
    host: f.remoteHost,
    port: f.remotePort,
    via: `forward ${f.bind ?? '127.0.0.1'}:${f.localPort}`,
    bind: f.bind ?? '127.0.0.1',
    localPort: f.localPort,
  }));
  if (config.pipe) probes.push({ host: config.pipe.host, port: config.pipe.port, via: 'pipe' });
  return probes;
}

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));
const seconds = (ms: number) => `${(ms / 1000).toFixed(1)} s`;
const errorText = (error: unknown) => (error instanceof Error ? error.message : String(error));
const VIA: Record<Connection, string> = { none: 'offline', udp: 'UDP', tcp: 'a TCP relay' };

/** Polls `predicate` until it holds (true) or `ms` pass (false). */
async function until(predicate: () => boolean, ms: number, stepMs = 100): Promise<boolean> {
  const deadline = Date.now() + ms;
  while (!predicate()) {
    const left = deadline - Date.now();
    if (left <= 0) return false;
    await sleep(Math.min(stepMs, left));
  }
  return true;
}

function bootstrapSummary(config: ResolvedConfig): string {
  const listed = config.bootstrapNodes.map((n) => `${n.host}:${n.port}`).join(', ');
  switch (config.bootstrapMode) {
    case 'none':
      return `bootstrap_mode none, nodes ${listed || '(none)'}`;
    case 'lan':
      return `LAN discovery${listed ? ` + ${listed}` : ''}`;
    default:
      return `public bootstrap nodes${listed ? ` + ${listed}` : ''}`;
  }
}

function networkFix(config: ResolvedConfig): string {
  const lines =
    config.bootstrapMode === 'none'
      ? ['check that the nodes in tox.bootstrap_nodes are up and reachable from here: address, UDP port, and public_key (the node\'s DHT key, not a Tox ID)']
      : config.bootstrapMode === 'lan'
        ? ['LAN discovery found no Tox node: add a reachable node to tox.bootstrap_nodes']
        : ['none of the public bootstrap nodes answered: is outgoing UDP (and TCP 443/33445) allowed? add a node you can reach to tox.bootstrap_nodes'];
  lines.push(config.udp ? 'if UDP is blocked here: tox.udp_enabled: false, and give the nodes tcp_ports (TCP relays)' : 'with UDP off every node needs a reachable TCP relay port (tcp_ports)');
  return lines.join('\n');
}

function serverFix(config: ResolvedConfig, ourKey: string | undefined): string {
  return [
    'is the server running and online? (`toxtunnel status` on the server; `toxtunnel doctor` there too)',
    `is client.server_id (--server-id) its current Tox ID? (\`toxtunnel print-id\` on the server prints it)`,
    `if the server is online, it does not list us as a friend (access never given, or revoked): ask its operator to add our public key ${ourKey ?? '(toxtunnel print-id here)'} (a rule with friend_pk: …, or the whitelist); we send our friend request again by ourselves, so it works within seconds once they do`,
    config.sharedSecret !== undefined ? 'the shared secret must be the server\'s exactly' : 'if the server has a shared secret or a whitelist, give the secret (TOXTUNNEL_SHARED_SECRET) / get our key listed',
  ].join('\n');
}

/** A probe's verdict from the server's TUNNEL_ERROR (or our own timeout). */
export function probeFailure(probe: Probe, failure: CarryFailure, ourKey: string | undefined): CheckResult {
  const name = `tunnel ${probe.host}:${probe.port}`;
  const text = failure.error;
  const detail = `${probe.via}: the server answered TUNNEL_ERROR "${text}"`;
  if (failure.peerErrorCode === ErrorCode.ACCESS_DENIED_OR_NOT_FOUND && /denied/i.test(text)) {
    return fail(
      name,
      detail,
      [
        `the server's rules file (server.rules_file) does not let us reach ${probe.host}:${probe.port}: in the rule for friend_pk: ${ourKey ?? '(our public key)'}`,
        `add under allow: - host: ${probe.host} / ports: [${probe.port}] (or remove the deny entry that matches); the server reloads the file by itself`,
        'note: the host is matched as written here (a name is not resolved before matching)',
      ].join('\n'),
    );
  }
  if (failure.peerErrorCode === ErrorCode.DNS_FAILED_OR_ID_IN_USE && /dns/i.test(text)) {
    return fail(name, detail, `the server cannot resolve ${probe.host}: use a name the server's resolver knows, or an IP address, as remote_host`);
  }
  if (failure.peerErrorCode === ErrorCode.CONNECT_FAILED_OR_LIMIT && /connect failed/i.test(text)) {
    const fix = /ECONNREFUSED/.test(text)
      ? `nothing listens on ${probe.host}:${probe.port} as the server sees it (the server connects, so 127.0.0.1 is the server itself): start the service, or correct remote_host/remote_port`
      : /ETIMEDOUT|EHOSTUNREACH|ENETUNREACH|timed out/i.test(text)
        ? `the server cannot reach ${probe.host}:${probe.port}: a firewall or routing between the server and that host`
        : `the server cannot connect to ${probe.host}:${probe.port}: check the target from the server (e.g. nc -vz ${probe.host} ${probe.port})`;
    return fail(name, detail, fix);
  }
  if (failure.peerErrorCode === ErrorCode.CONNECT_FAILED_OR_LIMIT) {
    return fail(name, detail, 'the server has too many tunnels open for us (100): close some, or wait');
  }
  if (failure.peerErrorCode === undefined) {
    return fail(name, `${probe.via}: ${text}`, 'the server did not answer in time: it may be overloaded, or a different program; its log says more (-l debug there)');
  }
  return fail(name, detail, 'see the server\'s log for this tunnel');
}

// --- our own node ------------------------------------------------------------------------------

/** Starts a node from the config (client: a client without listeners); a failure is the network check's. */
export async function startOwnNode(ctx: NetworkContext): Promise<{ session?: NetworkSession; result?: CheckResult }> {
  const { config, identity, log } = ctx;
  const options = networkOptions(config);
  if (options.bootstrapNodes.length === 0 && !options.localDiscovery) {
    return {
      result: fail('tox network', 'no bootstrap nodes: bootstrap_mode is none and tox.bootstrap_nodes is empty, so this node finds nobody', 'add a node to tox.bootstrap_nodes (address, port, public_key), or use bootstrap_mode auto (public nodes) or lan'),
    };
  }
  // Names that do not resolve: said here (the runtime would only log it). Not with a proxy:
  // names must not reach the local resolver then (the runtime skips them, saying why).
  const unresolved: string[] = [];
  for (const n of options.bootstrapNodes) {
    if (net.isIP(n.host) || options.proxy) continue;
    try {
      await lookup(n.host);
    } catch {
      unresolved.push(n.host);
    }
  }
  if (unresolved.length === options.bootstrapNodes.length && !options.localDiscovery) {
    return { result: fail('tox network', `no bootstrap node name resolves: ${unresolved.join(', ')}`, 'check DNS here, or list the nodes by IP address in tox.bootstrap_nodes') };
  }
  const dir = mkdtempSync(join(tmpdir(), 'toxtunnel-doctor-'));
  const cleanup = () => rmSync(dir, { recursive: true, force: true });
  try {
    if (identity.savedata) writeSavedata(dir, identity.savedata);
    const own = { ...options, dataDir: dir };
    if (config.mode === 'client') {
      const client = await ToxtunnelClient.start(
        {
          ...own,
          serverId: config.serverId!,
          forwards: [],
          socks: [],
          reverse: config.reverse,
          extensions: config.extensions,
          onlineWaitMs: ctx.timeoutMs,
          openTimeoutMs: ctx.timeoutMs,
          ...(config.sharedSecret !== undefined ? { sharedSecret: config.sharedSecret } : {}),
        },
        log,
      );
      return { session: new OwnSession(ctx, client.runtime.node, client, () => client.stop(), cleanup, unresolved) };
    }
    const runtime = await ToxRuntime.start(own, log, { capabilities: 0, tunnelClosed() {} });
    return { session: new OwnSession(ctx, runtime.node, undefined, () => runtime.stop(), cleanup, unresolved) };
  } catch (error) {
    cleanup();
    const code = isToxtunnelError(error) ? error.code : '';
    const fix =
      code === 'TOX_PORT_IN_USE'
        ? `every UDP port in tox.start_port..end_port (${config.startPort ?? 33445}..${config.endPort ?? 33545}) is taken: widen the range, or stop other Tox programs`
        : code === 'BOOTSTRAP_NONE_USABLE'
          ? 'check the address, port and public_key of each node in tox.bootstrap_nodes'
          : 'see the message; run with -l debug for the node\'s log';
    return { result: fail('tox network', `cannot start the Tox node: ${errorText(error)}`, fix) };
  }
}

class OwnSession implements NetworkSession {
  constructor(
    private readonly ctx: NetworkContext,
    private readonly node: ToxNode,
    private readonly client: ToxtunnelClient | undefined,
    private readonly stop: () => void,
    private readonly cleanup: () => void,
    private readonly unresolved: string[],
  ) {}

  async checkNetwork(): Promise<CheckResult> {
    const { config, timeoutMs } = this.ctx;
    const started = Date.now();
    const note = this.unresolved.length ? `; not resolved: ${this.unresolved.join(', ')}` : '';
    if (!(await until(() => this.node.connectionStatus !== 'none', timeoutMs))) {
      return fail('tox network', `not connected to the Tox network within ${seconds(timeoutMs)} (${bootstrapSummary(config)}${note})`, networkFix(config));
    }
    return pass('tox network', `connected via ${VIA[this.node.connectionStatus]} in ${seconds(Date.now() - started)} (${bootstrapSummary(config)}${note})`);
  }

  private status(): { connection: Connection; extensions: number } {
    const server = this.client!.status().server as { connection: Connection; extensions: number };
    return server;
  }

  async checkServer(): Promise<CheckResult> {
    const { config, timeoutMs } = this.ctx;
    const client = this.client!;
    const id = `${config.serverId!.slice(0, 8)}…`;
    const started = Date.now();
    if (!(await until(() => client.serverReady, timeoutMs))) {
      return fail('server online', `the server ${id} did not come online within ${seconds(timeoutMs)} (we are on the Tox network)`, serverFix(config, this.node.publicKey));
    }
    const took = Date.now() - started;
    // Our HELLO is answered right away by a toxtunnel with extensions; a base-protocol peer never answers.
    if (config.extensions) await until(() => this.status().extensions !== 0, Math.min(2000, timeoutMs));
    const caps = this.status().extensions;
    const ext = caps ? `extensions: ${[caps & Capability.HALF_CLOSE ? 'half-close' : '', caps & Capability.REVERSE ? 'reverse' : ''].filter(Boolean).join(', ')}` : 'base protocol';
    return pass('server online', `the server ${id} is online via ${VIA[this.status().connection]} (found in ${seconds(took)}; ${ext})`);
  }

  async checkTunnels(): Promise<CheckResult[]> {
    const results: CheckResult[] = [];
    for (const probe of probesOf(this.ctx.config)) results.push(await this.probe(probe));
    results.push(...(await this.checkReverse()));
    if (results.length === 0) results.push(skip('tunnel', 'nothing to probe: SOCKS5 proxies choose their targets per connection'));
    return results;
  }

  /** TUNNEL_OPEN to the target; ACK(0) → pass (closed at once), TUNNEL_ERROR → its text. */
  private async probe(probe: Probe): Promise<CheckResult> {
    const target = `${probe.host}:${probe.port}`;
    const result = await this.client!.probe(probe.host, probe.port, this.ctx.timeoutMs + 5000);
    if (result.ok) return pass(`tunnel ${target}`, `${probe.via}: the server connected to ${target} (ACK in ${result.ackMs} ms); closed again`);
    if (result.error === PROBE_CLOSED_UNCONFIRMED) return fail(`tunnel ${target}`, `${probe.via}: ${result.error}`, 'see the server\'s log for this tunnel');
    return probeFailure(probe, result, this.node.publicKey);
  }

  /** Reverse forwards: the server's answer to our listen requests (sent after its HELLO). */
  private async checkReverse(): Promise<CheckResult[]> {
    const client = this.client!;
    if (client.reverse.length === 0) return [];
    const settled = () => client.reverse.every((h) => h.state === 'listening' || h.state === 'refused');
    await until(() => settled() || (this.status().extensions !== 0 && !(this.status().extensions & Capability.REVERSE)), Math.min(this.ctx.timeoutMs, 10_000));
    const supported = (this.status().extensions & Capability.REVERSE) !== 0;
    const results: CheckResult[] = [];
    for (const h of client.reverse) {
      const name = `reverse ${h.spec.remoteBind || '127.0.0.1'}:${h.spec.remotePort}`;
      const local = `${h.spec.localHost}:${h.spec.localPort}`;
      if (!this.ctx.config.extensions) results.push(fail(name, 'reverse forwards need the extensions, and extensions: false here', 'set extensions: true (the default)'));
      else if (!supported) results.push(fail(name, 'the server does not support reverse tunnels (a base-protocol peer, or extensions off there)', 'run toxtunnel with extensions: true on the server'));
      else if (h.state === 'listening') results.push(await localTarget(name, `the server listens on port ${h.remotePort} for us -> ${local} here`, h.spec.localHost, h.spec.localPort));
      else if (h.state === 'refused') {
        results.push(
          fail(
            name,
            `the server refused to listen: "${h.message ?? ''}"`,
            `the server's rules file needs, in the rule for friend_pk: ${this.node.publicKey}, listen: - bind: ${h.spec.remoteBind || '127.0.0.1'} / ports: [${h.spec.remotePort}]; or the port is in use on the server`,
          ),
        );
      } else results.push(warn(name, 'the server did not answer the listen request in time', 'run doctor again; see the server\'s log'));
    }
    return results;
  }

  async close(): Promise<void> {
    try {
      this.stop();
    } finally {
      this.cleanup();
    }
  }
}

/** A reverse forward's local target accepts connections (warn if not: connections would fail). */
async function localTarget(name: string, detail: string, host: string, port: number): Promise<CheckResult> {
  const error = await new Promise<string | undefined>((resolve) => {
    const socket = net.connect({ host, port });
    const timer = setTimeout(() => {
      socket.destroy();
      resolve('ETIMEDOUT');
    }, 3000);
    socket.once('connect', () => {
      clearTimeout(timer);
      socket.destroy();
      resolve(undefined);
    });
    socket.once('error', (e: NodeJS.ErrnoException) => {
      clearTimeout(timer);
      resolve(e.code ?? e.message);
    });
  });
  if (!error) return pass(name, `${detail} (which accepts connections)`);
  return warn(name, `${detail}, but ${host}:${port} does not accept connections here (${osErrorText({ code: error })})`, `start the service on ${host}:${port}, or correct local_host/local_port`);
}

// --- the running instance ----------------------------------------------------------------------

export function runningSession(ctx: NetworkContext, running: RunningInstance): NetworkSession {
  const status = running.status;
  const socket = controlSocketPath(ctx.config.dataDir);
  return {
    async checkNetwork() {
      const network = status.network as Connection | undefined;
      if (network === 'udp' || network === 'tcp') return pass('tox network', `the running toxtunnel is connected via ${VIA[network]}`);
      return fail('tox network', `the running toxtunnel is not connected to the Tox network (${bootstrapSummary(ctx.config)})`, networkFix(ctx.config));
    },
    async checkServer() {
      type ServerState = { connection?: Connection; state?: string; publicKey?: string };
      let server = (status.server ?? {}) as ServerState;
      // Connected but not yet answering (the first PING/HELLO, or the protocol probe, in
      // flight): ask again for a few seconds before calling it a failure.
      for (const deadline = Date.now() + Math.min(5_000, ctx.timeoutMs); server.state !== 'active' && server.connection && server.connection !== 'none' && Date.now() < deadline; ) {
        await new Promise((r) => setTimeout(r, 250));
        const again = (await controlRequest(socket, { cmd: 'status' }, 3000).catch(() => undefined)) as Record<string, unknown> | undefined;
        if (again?.server) {
          server = again.server as ServerState;
          Object.assign(status, again);
        }
      }
      if (server.state === 'active' && server.connection && server.connection !== 'none') {
        return pass('server online', `the running toxtunnel reaches the server via ${VIA[server.connection]}`);
      }
      const key = typeof status.toxId === 'string' ? status.toxId.slice(0, 64) : undefined;
      return fail('server online', `the running toxtunnel does not reach the server (state ${server.state ?? '?'}, connection ${server.connection ?? '?'})`, serverFix(ctx.config, key));
    },
    async checkTunnels() {
      const results: CheckResult[] = [];
      for (const probe of probesOf(ctx.config)) results.push(await probeThroughRunning(socket, status, probe, ctx.timeoutMs));
      const reverse = Array.isArray(status.reverse) ? (status.reverse as Array<{ remote?: string; local?: string; state?: string; message?: string }>) : [];
      for (const r of reverse) {
        const name = `reverse ${r.remote ?? '?'}`;
        if (r.state === 'listening') results.push(pass(name, `the server listens for the running toxtunnel -> ${r.local ?? '?'}`));
        else if (r.state === 'refused') results.push(fail(name, `the server refused to listen: "${r.message ?? ''}"`, 'the server\'s rules need a listen entry for this client (bind and port)'));
        else results.push(warn(name, `state ${r.state ?? '?'}`, 'wait for the server, or see the running client\'s log'));
      }
      if (results.length === 0) results.push(skip('tunnel', 'nothing to probe: SOCKS5 proxies choose their targets per connection'));
      return results;
    },
    async close() {},
  };
}

/**
 * Through the running client: connect to its local forward port and watch its tunnel list
 * (control socket) for the new tunnel to that target becoming open; closed first = refused.
 */
async function probeThroughRunning(socketPath: string, status: Record<string, unknown>, probe: Probe, timeoutMs: number): Promise<CheckResult> {
  const target = `${probe.host}:${probe.port}`;
  const name = `tunnel ${target}`;
  const listeners = Array.isArray(status.listeners) ? (status.listeners as Array<{ listen?: string }>) : [];
  const listen = listeners.map((l) => l.listen ?? '').find((l) => l.endsWith(` -> ${target}`) && (probe.localPort === 0 || l.startsWith(`${probe.bind}:${probe.localPort} `)));
  const address = listen ? /^(.*):(\d+) -> /.exec(listen) : null;
  if (!address) return skip(name, `${probe.via}: the running toxtunnel has no listener for it (it runs with another config?)`);
  const list = async () => ((await controlRequest(socketPath, { cmd: 'list' }, 3000)) ?? []) as Array<{ id: string; target: string; state: string }>;
  const before = new Set((await list()).map((t) => t.id));
  const host = address[1]!.replace(/^\[|\]$/g, '');
  const port = Number(address[2]);
  const socket = net.connect({ host, port });
  let closed: string | undefined;
  socket.on('error', (e: NodeJS.ErrnoException) => (closed ??= osErrorText(e)));
  socket.on('close', () => (closed ??= 'closed'));
  const started = Date.now();
  try {
    while (Date.now() - started < timeoutMs) {
      const mine = (await list()).find((t) => t.target === target && !before.has(t.id));
      if (mine?.state === 'open' || mine?.state === 'closing') return pass(name, `${probe.via} (running toxtunnel): the server connected to ${target} (tunnel ${mine.id}); closed again`);
      if (closed !== undefined) {
        return fail(
          name,
          `${probe.via} (running toxtunnel): the connection was closed (${closed}) before a tunnel opened: the server refused it or is unreachable`,
          'the running client\'s log has the server\'s answer ("Access denied": the rules file; "TCP connect failed": the service); or stop it and run toxtunnel doctor again to see the answer here',
        );
      }
      await sleep(200);
    }
    return fail(name, `${probe.via} (running toxtunnel): no tunnel opened within ${seconds(timeoutMs)}`, 'see the running client\'s log');
  } finally {
    socket.destroy();
  }
}
