// SPDX-License-Identifier: GPL-3.0-or-later
/**
 * The configuration: the YAML config file (config-file.ts) resolved with the environment and
 * the command line.
 *
 * Precedence: defaults < config file < environment (TOXTUNNEL_*) < command-line flags.
 * docs/config.md is the reference.
 */
import { isIP } from 'node:net';
import { homedir } from 'node:os';
import { dirname, join, resolve as resolvePath } from 'node:path';
import { BOOTSTRAP_MODES, type BootstrapMode, type ConfigFile, LOG_LEVELS, type LogLevel, readConfigFile } from './config-file.ts';
import { type BootstrapNode, CLIENT_PROTOCOLS, type ClientProtocol, type Forward, type ReverseForward, type SocksListener } from './specs.ts';
import { ToxtunnelError } from '../errors.ts';
import { type InviteHint, parseInvite } from './invite.ts';
import { keyHint } from './placeholders.ts';
import { parseToxId } from '../tox/tox-id.ts';
import { defaultDataDir } from './data-dir.ts';
import {
  type HostPort,
  parseBootstrapSpec,
  parseForwardSpec,
  parseHostPort,
  parseMetricsSpec,
  parsePort,
  parseReverseSpec,
  parseSocksSpec,
} from './forward-spec.ts';
import { parseProxyUrl } from './proxy-url.ts';
import type { PathKey } from './yaml-document.ts';
import type { ProxyOptions } from '../tox/tox-node.ts';

export { BOOTSTRAP_MODES, type BootstrapMode, type ConfigFile, LOG_LEVELS, type LogLevel, loadConfigFile } from './config-file.ts';

/** Command-line flags (cac's camelCase names). */
export interface CliFlags {
  mode?: string;
  config?: string;
  dataDir?: string;
  logLevel?: string;
  port?: string | number;
  serverId?: string;
  local?: string | string[];
  remote?: string | string[];
  dynamic?: string | string[];
  pipe?: string;
  secret?: string;
  /** --protocol: auto, toxtunnel or tuntox (client). */
  protocol?: string;
  /** tuntox's -f: a rules file (either format). */
  rulesFile?: string;
  /** tuntox's -i: the server's Tox ID (client, the last one) or whitelist entries (server). */
  tuntoxIds?: string[];
  /** The mode tuntox's flags imply (none of -L/-W/-D: server), used when nothing else sets one. */
  impliedMode?: 'server' | 'client';
  /** --metrics [bind:]port */
  metrics?: string;
  /** --bootstrap host:port:key (repeatable): replaces tox.bootstrap_nodes. */
  bootstrap?: string | string[];
  invite?: string;
  allowAny?: boolean;
  /** socks5://host:port, http://host:port or none. */
  proxy?: string;
}

export interface ResolvedConfig {
  mode: 'server' | 'client';
  dataDir: string;
  logLevel: LogLevel;
  udp: boolean;
  ipv6: boolean;
  tcpPort: number;
  /** UDP port range (toxcore's default 33445..33545 when absent). */
  startPort: number | undefined;
  endPort: number | undefined;
  bootstrapMode: BootstrapMode;
  bootstrapNodes: BootstrapNode[];
  /** The server's address hint from an invite (DHT key, address, onion data key), when hints are on. */
  serverHint: InviteHint | undefined;
  /** Remember friends' DHT keys and addresses (data_dir/tox_hints.json) and reach them there first. */
  addressHints: boolean;
  /** Absolute path, or undefined: no rules (admitted friends may go anywhere, warned). */
  /** Every Tox connection goes through this proxy (UDP is then off). */
  proxy: ProxyOptions | undefined;
  /** Absolute path, or undefined: no rules (allow all, warned). */
  rulesFile: string | undefined;
  /** Server: admit every friend when no rules, secret or whitelist configure access. */
  allowAny: boolean;
  /** Server: friends kept at most (undefined: the default). */
  maxFriends: number | undefined;
  /** Client: local connections that may wait for the server at once (undefined: the default). */
  maxWaiting: number | undefined;
  serverId: string | undefined;
  forwards: Forward[];
  reverse: ReverseForward[];
  socks: SocksListener[];
  pipe: HostPort | undefined;
  /** The server's protocol (client): detected, ours only, or tuntox only. */
  protocol: ClientProtocol;
  /** Shared secret (server: required in friend requests; client: sent in ours). Never logged. */
  sharedSecret: string | undefined;
  whitelist: string[] | undefined;
  /** Friend names from the whitelist (public key, upper case → name). */
  friendNames: Map<string, string>;
  /** Where /metrics is served (Prometheus text format), or undefined: no metrics. */
  metrics: { host: string; port: number; loopback: boolean } | undefined;
  extensions: boolean;
  controlSocket: boolean;
  /** How long a client connection waits for the server to be reachable (ms). */
  connectTimeoutMs: number;
  /** Where each setting came from is not kept; the config file's path is, for messages. */
  configFile: string | undefined;
}

function oneOf<T extends string>(value: string, allowed: readonly T[], what: string, source: string): T {
  if (!(allowed as readonly string[]).includes(value)) {
    throw new ToxtunnelError(source.startsWith('TOXTUNNEL_') ? 'CONFIG_ENV_INVALID' : 'CLI_INVALID', `${source}: ${JSON.stringify(value)} is not a valid ${what} (${allowed.join(', ')})`);
  }
  return value as T;
}

function bool(value: string, source: string): boolean {
  if (/^(1|true|yes|on)$/i.test(value)) return true;
  if (/^(0|false|no|off)$/i.test(value)) return false;
  throw new ToxtunnelError('CONFIG_ENV_INVALID', `${source}: ${JSON.stringify(value)} is not a boolean (true/false, 1/0, yes/no)`);
}

/** The config file (if any) and the data directory it leads to: what every subcommand resolves first. */
export interface ConfigSource {
  /** Absolute path of the config file, or undefined when there is none. */
  configFile: string | undefined;
  file: ConfigFile;
  /** "file:line:column: a.b" for a key of the file, for errors found while resolving. */
  at(path: readonly PathKey[]): string;
  /** The line of a key of the file, when it is there. */
  line(path: readonly PathKey[]): number | undefined;
  /** A path written in the file: "~/" is the home directory; relative paths are relative to the file. */
  fromFile(path: string | undefined): string | undefined;
  /** -d, else TOXTUNNEL_DATA_DIR, else the file's data_dir, else the OS default; absolute. */
  dataDir: string;
}

/**
 * The one resolution of config file → data directory that `run`, `print-id`, `status`, `list`,
 * `close` and `doctor` share: -c/--config (else TOXTUNNEL_CONFIG) names the file; -d/--data-dir
 * (else TOXTUNNEL_DATA_DIR, else the file's data_dir, else the OS default) the data directory,
 * where the identity (tox_save.dat) and the control socket live.
 */
export function resolveConfigSource(flags: Pick<CliFlags, 'config' | 'dataDir'>, env: Record<string, string | undefined> = process.env): ConfigSource {
  const configFile = flags.config ? resolvePath(flags.config) : env.TOXTUNNEL_CONFIG ? resolvePath(env.TOXTUNNEL_CONFIG) : undefined;
  const loaded = configFile ? readConfigFile(configFile) : undefined;
  const file: ConfigFile = loaded?.file ?? {};
  const base = configFile ? dirname(configFile) : process.cwd();
  const fromFile = (path: string | undefined) =>
    path === undefined ? undefined : path === '~' || path.startsWith('~/') ? join(homedir(), path.slice(1)) : resolvePath(base, path);
  const dataDir = flags.dataDir ? resolvePath(flags.dataDir) : env.TOXTUNNEL_DATA_DIR ? resolvePath(env.TOXTUNNEL_DATA_DIR) : (fromFile(file.data_dir) ?? defaultDataDir());
  return { configFile, file, at: (path) => loaded?.at(path) ?? `config: ${path.join('.')}`, line: (path) => loaded?.line(path), fromFile, dataDir };
}

/**
 * Environment overrides, documented in docs/config.md:
 * TOXTUNNEL_MODE, TOXTUNNEL_DATA_DIR, TOXTUNNEL_LOG_LEVEL, TOXTUNNEL_UDP_ENABLED,
 * TOXTUNNEL_TCP_PORT, TOXTUNNEL_BOOTSTRAP_MODE, TOXTUNNEL_RULES_FILE, TOXTUNNEL_SERVER_ID,
 * TOXTUNNEL_PIPE, TOXTUNNEL_SHARED_SECRET, TOXTUNNEL_EXTENSIONS, TOXTUNNEL_CONNECT_TIMEOUT,
 * TOXTUNNEL_ADDRESS_HINTS, TOXTUNNEL_ALLOW_ANY, TOXTUNNEL_PROTOCOL; and tuntox's
 * TUNTOX_SHARED_SECRET (read last).
 */
export function resolveConfig(
  flags: CliFlags,
  env: Record<string, string | undefined> = process.env,
  /** clientLater: a client may lack the server ID and forwards (`toxtunnel mcp` gets them from tool calls). */
  options: { clientLater?: boolean } = {},
): ResolvedConfig {
  const loaded = resolveConfigSource(flags, env);
  const { configFile, file, fromFile, dataDir, at } = loaded;

  const modeText = flags.mode ?? env.TOXTUNNEL_MODE ?? file.mode ?? flags.impliedMode;
  if (!modeText) {
    throw new ToxtunnelError('CLI_INVALID', 'no mode: use -m server or -m client (or "mode:" in the config file given with -c); `toxtunnel init` writes ready configs, `toxtunnel --help` lists the commands');
  }
  const mode = oneOf(modeText, ['server', 'client'] as const, 'mode', flags.mode ? '-m/--mode' : env.TOXTUNNEL_MODE ? 'TOXTUNNEL_MODE' : at(['mode']));
  // Pipe mode (ssh's ProxyCommand): stderr is the user's terminal, so only warnings and errors
  // unless -l or TOXTUNNEL_LOG_LEVEL asks for more.
  const pipeMode = Boolean(flags.pipe ?? env.TOXTUNNEL_PIPE ?? file.client?.pipe);
  const logText = flags.logLevel ?? env.TOXTUNNEL_LOG_LEVEL ?? (pipeMode ? 'warn' : (file.logging?.level ?? 'info'));
  const logLevel = oneOf(logText, LOG_LEVELS, 'log level', flags.logLevel ? '-l/--log-level' : 'TOXTUNNEL_LOG_LEVEL');
  const proxy = resolveProxy(flags, env, file, at);
  const udp = proxy ? false : env.TOXTUNNEL_UDP_ENABLED !== undefined ? bool(env.TOXTUNNEL_UDP_ENABLED, 'TOXTUNNEL_UDP_ENABLED') : (file.tox?.udp_enabled ?? true);
  const tcpPort =
    flags.port !== undefined
      ? parsePort(String(flags.port), 'port', '-p/--port', true)
      : env.TOXTUNNEL_TCP_PORT !== undefined
        ? parsePort(env.TOXTUNNEL_TCP_PORT, 'port', 'TOXTUNNEL_TCP_PORT', true)
        : (file.tox?.tcp_port ?? 0);
  const bootstrapMode = oneOf(env.TOXTUNNEL_BOOTSTRAP_MODE ?? file.tox?.bootstrap_mode ?? 'auto', BOOTSTRAP_MODES, 'bootstrap mode', 'TOXTUNNEL_BOOTSTRAP_MODE');
  const cliBootstrap = ([] as string[]).concat(flags.bootstrap ?? []);
  const bootstrapNodes: BootstrapNode[] =
    cliBootstrap.length > 0
      ? cliBootstrap.map(parseBootstrapSpec)
      : (file.tox?.bootstrap_nodes ?? []).map((n) => ({
          host: n.address,
          port: n.port,
          publicKey: n.public_key.trim(),
          ...(n.tcp_ports ? { tcpPorts: n.tcp_ports } : {}),
        }));
  if (proxy) {
    const nodeAt = (i: number) => (cliBootstrap.length > 0 ? `--bootstrap ${cliBootstrap[i]}` : at(['tox', 'bootstrap_nodes', i, 'address']));
    checkProxyCompatible(bootstrapMode, bootstrapNodes, env.TOXTUNNEL_BOOTSTRAP_MODE !== undefined ? 'TOXTUNNEL_BOOTSTRAP_MODE' : at(['tox', 'bootstrap_mode']), nodeAt);
  }

  const inviteText = flags.invite ?? file.client?.invite;
  const invite = inviteText === undefined ? undefined : parseInvite(inviteText, flags.invite ? '--invite' : at(['client', 'invite']));
  const addressHints =
    env.TOXTUNNEL_ADDRESS_HINTS !== undefined ? bool(env.TOXTUNNEL_ADDRESS_HINTS, 'TOXTUNNEL_ADDRESS_HINTS') : (file.tox?.address_hints ?? true);
  // An invite's addresses are bootstrap nodes too (the server is a DHT node): hints, so only with hints on.
  if (invite?.dhtKey && addressHints) for (const a of invite.addresses) bootstrapNodes.push({ host: a.host, port: a.port, publicKey: invite.dhtKey });
  // tuntox's -i: the server to reach (client; the last -i wins) or a whitelist entry (server).
  const tuntoxServerId = mode === 'client' ? flags.tuntoxIds?.at(-1) : undefined;
  const serverIdText = flags.serverId ?? tuntoxServerId ?? env.TOXTUNNEL_SERVER_ID ?? file.client?.server_id ?? invite?.toxId;
  let serverId: string | undefined;
  if (serverIdText !== undefined) {
    const line = loaded.line(['client', 'server_id']);
    const inFile = !flags.serverId && !tuntoxServerId && !env.TOXTUNNEL_SERVER_ID;
    const source = flags.serverId ? '--server-id' : tuntoxServerId ? '-i' : env.TOXTUNNEL_SERVER_ID ? 'TOXTUNNEL_SERVER_ID' : at(['client', 'server_id']);
    try {
      serverId = parseToxId(serverIdText).text;
    } catch (error) {
      const hint = keyHint(serverIdText, 'Tox ID');
      const text = hint?.startsWith('this is still the placeholder') ? hint : `${(error as Error).message}${hint ? `; ${hint}` : ''}`;
      throw new ToxtunnelError('CONFIG_SERVER_ID_INVALID', `${source}: ${text}`, {
        source,
        ...(inFile ? { file: configFile, line } : {}),
      });
    }
  }
  const cliForwards = ([] as string[]).concat(flags.local ?? []).map(parseForwardSpec);
  const fileForwards: Forward[] = (file.client?.forwards ?? []).map((f) =>
    typeof f === 'string'
      ? parseForwardSpec(f)
      : {
          ...(f.bind ? { bind: f.bind } : {}),
          localPort: f.local_port,
          remoteHost: f.remote_host,
          remotePort: f.remote_port,
        },
  );
  const pipeText = flags.pipe ?? env.TOXTUNNEL_PIPE ?? file.client?.pipe;
  const pipe = pipeText ? parseHostPort(pipeText, flags.pipe ? '--pipe' : env.TOXTUNNEL_PIPE ? 'TOXTUNNEL_PIPE' : at(['client', 'pipe'])) : undefined;
  const cliReverse = ([] as string[]).concat(flags.remote ?? []).map(parseReverseSpec);
  const cliSocks = ([] as string[]).concat(flags.dynamic ?? []).map(parseSocksSpec);
  const fromCli = cliForwards.length + cliReverse.length + cliSocks.length > 0;
  // Command-line forwards replace the file's (as ssh's -L does with its config); pipe mode has none.
  const forwards = fromCli ? cliForwards : pipe ? [] : fileForwards;
  const reverse: ReverseForward[] = fromCli
    ? cliReverse
    : pipe
      ? []
      : (file.client?.reverse ?? []).map((r) =>
          typeof r === 'string'
            ? parseReverseSpec(r)
            : { ...(r.remote_bind ? { remoteBind: r.remote_bind } : {}), remotePort: r.remote_port, localHost: r.local_host, localPort: r.local_port },
        );
  const socks: SocksListener[] = fromCli
    ? cliSocks
    : pipe
      ? []
      : (file.client?.socks ?? []).map((x) =>
          typeof x === 'string'
            ? parseSocksSpec(x)
            : {
                ...(x.bind ? { bind: x.bind } : {}),
                port: x.port,
                ...(x.username !== undefined ? { credentials: { username: x.username, password: x.password! } } : {}),
              },
        );

  if (mode === 'client' && !options.clientLater) {
    if (!serverId) throw new ToxtunnelError('CLI_INVALID', 'client mode needs the server\'s Tox ID: --server-id ID (or client.server_id in the config file)');
    if (forwards.length + reverse.length + socks.length === 0 && !pipe) {
      throw new ToxtunnelError('CLI_INVALID', 'client mode needs something to forward: -L port:host:hostport, -R port:host:hostport, -D port, --pipe host:port, or client.forwards');
    }
  }
  const sharedSecret =
    flags.secret ?? env.TOXTUNNEL_SHARED_SECRET ?? env.TUNTOX_SHARED_SECRET ?? (mode === 'server' ? file.server?.shared_secret : (file.client?.shared_secret ?? invite?.secret));
  if (sharedSecret !== undefined && (sharedSecret.length === 0 || Buffer.byteLength(sharedSecret) > 1016)) {
    // TOX_MAX_FRIEND_REQUEST_LENGTH is 1016 bytes; the secret travels as the request message.
    throw new ToxtunnelError('CLI_INVALID', `the shared secret must be 1..1016 bytes (it travels in the friend request), got ${Buffer.byteLength(sharedSecret)}`);
  }
  const rulesText = env.TOXTUNNEL_RULES_FILE ?? file.server?.rules_file;
  const whitelist = [...(file.server?.whitelist ?? []).map((w) => (typeof w === 'string' ? w : w.public_key)), ...(mode === 'server' ? (flags.tuntoxIds ?? []).map(whitelistKey) : [])];
  const protocolText = flags.protocol ?? env.TOXTUNNEL_PROTOCOL ?? file.client?.protocol ?? 'auto';
  const protocol = oneOf(protocolText, CLIENT_PROTOCOLS, 'protocol', flags.protocol ? '--protocol' : env.TOXTUNNEL_PROTOCOL ? 'TOXTUNNEL_PROTOCOL' : at(['client', 'protocol']));
  return {
    mode,
    dataDir,
    logLevel,
    udp,
    ipv6: file.tox?.ipv6_enabled ?? true,
    tcpPort,
    startPort: file.tox?.start_port,
    endPort: file.tox?.end_port ?? (file.tox?.start_port !== undefined ? Math.min(65535, file.tox.start_port + 100) : undefined),
    bootstrapMode,
    bootstrapNodes,
    addressHints,
    serverHint:
      addressHints && invite?.dhtKey && serverId && parseToxId(serverId).publicKeyHex === parseToxId(invite.toxId).publicKeyHex
        ? { dhtKey: invite.dhtKey, ...(invite.addresses[0] ? { address: invite.addresses[0] } : {}), ...(invite.onionKey ? { onionKey: invite.onionKey } : {}) }
        : undefined,
    proxy,
    rulesFile: flags.rulesFile ? resolvePath(flags.rulesFile) : env.TOXTUNNEL_RULES_FILE ? resolvePath(env.TOXTUNNEL_RULES_FILE) : fromFile(rulesText),
    serverId,
    forwards,
    reverse,
    socks,
    pipe,
    protocol,
    sharedSecret,
    whitelist: whitelist.length > 0 || file.server?.whitelist ? whitelist.map((k) => k.trim().toUpperCase()) : undefined,
    friendNames: new Map(
      (file.server?.whitelist ?? []).flatMap((w) => (typeof w !== 'string' && w.name ? [[w.public_key.trim().toUpperCase(), w.name] as [string, string]] : [])),
    ),
    metrics: flags.metrics !== undefined ? parseMetricsSpec(flags.metrics, '--metrics') : file.metrics !== undefined ? parseMetricsSpec(file.metrics, at(['metrics'])) : undefined,
    allowAny: flags.allowAny ?? (env.TOXTUNNEL_ALLOW_ANY !== undefined ? bool(env.TOXTUNNEL_ALLOW_ANY, 'TOXTUNNEL_ALLOW_ANY') : (file.server?.allow_any ?? false)),
    maxFriends: file.server?.max_friends,
    maxWaiting: file.client?.max_waiting,
    extensions: env.TOXTUNNEL_EXTENSIONS !== undefined ? bool(env.TOXTUNNEL_EXTENSIONS, 'TOXTUNNEL_EXTENSIONS') : (file.extensions ?? true),
    controlSocket: file.control_socket ?? true,
    connectTimeoutMs:
      1000 *
      (env.TOXTUNNEL_CONNECT_TIMEOUT !== undefined
        ? parsePort(env.TOXTUNNEL_CONNECT_TIMEOUT, 'number of seconds', 'TOXTUNNEL_CONNECT_TIMEOUT')
        : (file.client?.connect_timeout ?? 60)),
    configFile,
  };
}


/** A whitelist entry from tuntox's -i: a Tox ID (its first 64 hex digits are the key) or a key. */
function whitelistKey(text: string): string {
  const value = text.trim();
  if (/^[0-9a-fA-F]{76}$/.test(value) || /^[0-9a-fA-F]{64}$/.test(value)) return value.slice(0, 64);
  throw new ToxtunnelError('CLI_INVALID', `-i ${JSON.stringify(value)}: expected a Tox ID (76 hex characters) or a public key (64), got ${value.length} characters`);
}

/**
 * The proxy: --proxy, else tox.proxy, else ALL_PROXY / all_proxy (as tuntox reads it, and
 * curl). ALL_PROXY comes last, not before the file as TOXTUNNEL_* variables do: it is set for
 * every program, so a config file's `proxy: none` must be able to opt out of it.
 */
function resolveProxy(flags: CliFlags, env: Record<string, string | undefined>, file: ConfigFile, at: ConfigSource['at']): ProxyOptions | undefined {
  if (flags.proxy !== undefined) return parseProxyUrl(flags.proxy, '--proxy');
  if (file.tox?.proxy !== undefined) return parseProxyUrl(file.tox.proxy, at(['tox', 'proxy']));
  const name = env.ALL_PROXY !== undefined ? 'ALL_PROXY' : env.all_proxy !== undefined ? 'all_proxy' : undefined;
  return name ? parseProxyUrl(env[name]!, name) : undefined;
}

/** With a proxy, nothing may go around it: no LAN broadcasts, no names for the local resolver. */
function checkProxyCompatible(mode: BootstrapMode, nodes: BootstrapNode[], modeAt: string, nodeAt: (i: number) => string): void {
  if (mode === 'lan') {
    throw new ToxtunnelError('CONFIG_INVALID', `${modeAt}: lan sends LAN broadcasts around the proxy; use none (listed nodes) or auto with a proxy`, { key: 'tox.bootstrap_mode' });
  }
  nodes.forEach((n, i) => {
    if (!isIP(n.host)) {
      throw new ToxtunnelError(
        'CONFIG_INVALID',
        `${nodeAt(i)}: ${JSON.stringify(n.host)} is a name; with a proxy, names are not resolved (the local resolver would see them, and toxcore's proxy handshake carries IP addresses only): give the node's IP address`,
        { key: `tox.bootstrap_nodes[${i}].address` },
      );
    }
  });
}
