// SPDX-License-Identifier: GPL-3.0-or-later
/**
 * The toxtunnel command line (flags as the C++ toxtunnel has them):
 *
 *   toxtunnel -m server [-c server.yaml] [-d DIR] [-l LEVEL] [-p TCP_PORT] [--metrics PORT]
 *   toxtunnel -m client --server-id ID -L 2222:127.0.0.1:22 [-L …]
 *   toxtunnel -m client --server-id ID --pipe 127.0.0.1:22        (ssh ProxyCommand)
 *   toxtunnel -m client --server-id ID -R 8080:127.0.0.1:80 -D 1080 [-s SECRET]
 *   toxtunnel print-id [-c FILE] [-d DIR] [--public-key] [--qr]
 *   toxtunnel status|list|close … [-c FILE] [-d DIR]
 *
 * A thin shell: each command turns flags into a resolved config and calls the library. The
 * command line is parsed by cac alone; each subcommand declares only its own options (so its
 * --help lists only those, and another command's flag is an error). Every failure is one
 * clear line (never a stack trace): exit 2 for bad usage or configuration, 1 for a runtime
 * failure. A closed stdout (`toxtunnel status | head -1`) ends the command quietly.
 */
import { cac, type Command } from 'cac';
import { exitCodeFor, isToxtunnelError } from '../errors.ts';
import { type InitFlags, runInit } from '../init/init-command.ts';
import { runControlCommand, watchStatus } from './control-commands.ts';
import { printInvite } from './invite-command.ts';
import { printId } from './print-id.ts';
import { runDoctor } from '../doctor/doctor.ts';
import { run, type RunFlags } from './run.ts';
import { VERSION } from '../version.ts';
import { resolveConfigSource } from '../config/config.ts';
import { suggest } from '../config/schema.ts';
import { allValues, lastValue, type ParsedFlags, protectArgv, unprotect } from './argv.ts';
import { TUNTOX_ALIASES, TUNTOX_HELP, tuntoxFlags } from '../tuntox/cli-aliases.ts';

export { VERSION };

/** Exit codes: 1 runtime failure, 2 bad usage or configuration. */
const EXIT_USAGE = 2;
const EXIT_FAILURE = 1;

let commandName = '';

function fail(error: unknown): never {
  if (isToxtunnelError(error)) {
    process.stderr.write(`toxtunnel: error: ${error.message}\n`);
    process.exit(exitCodeFor(error.code));
  }
  if (error instanceof Error && error.name === 'CACError') {
    process.stderr.write(`toxtunnel: error: ${usageMessage(error.message)} (see toxtunnel ${commandName ? `${commandName} ` : ''}--help)\n`);
    process.exit(EXIT_USAGE);
  }
  const message = error instanceof Error ? error.message : String(error);
  process.stderr.write(`toxtunnel: unexpected error: ${message}\n(this is a bug; run with TOXTUNNEL_DEBUG=1 for details)\n`);
  if (process.env.TOXTUNNEL_DEBUG && error instanceof Error) process.stderr.write(`${error.stack}\n`);
  process.exit(EXIT_FAILURE);
}

/** cac's messages, said for this program: `init -p` is the classic mix-up of the two port flags. */
function usageMessage(message: string): string {
  const unknown = /^Unknown option `(.+)`$/.exec(message);
  if (unknown && commandName === 'init' && (unknown[1] === '-p' || unknown[1] === '--p')) {
    return 'init has no -p: the service port is --port (e.g. init ssh --port 2200); -p is the Tox relay port of a running server (tox.tcp_port in server.yaml)';
  }
  if (unknown) {
    const typed = asTyped(unknown[1]!);
    return `unknown option ${typed} for ${commandName ? `toxtunnel ${commandName}` : 'the server/client run'}${typed.startsWith('--') ? suggest(typed, knownFlags()) : ''}`;
  }
  const missingValue = /^option `(.+?) <.*` value is missing$/.exec(message);
  if (missingValue) return `${missingValue[1]} needs a value`;
  if (/^missing required args for command `close/.test(message)) return 'close needs the tunnel to close: toxtunnel close ID (the ids are in toxtunnel list)';
  const unused = /^Unused args: (.+)$/.exec(message);
  if (unused) return `unexpected argument${unused[1]!.includes(',') ? 's' : ''} ${unused[1]!.replace(/`/g, '')}`;
  return message;
}

/**
 * cac names an unknown long option as it keys it, in camelCase (`--bootstrapMode` for
 * `--bootstrap-mode`); our flags are all kebab-case, so say it as it was most likely typed.
 */
function asTyped(flag: string): string {
  return flag.startsWith('--') ? `--${flag.slice(2).replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`)}` : flag;
}

/** The long flags the matched command (or the server/client run) and every command accept. */
function knownFlags(): string[] {
  const options = [...(cli.matchedCommand?.options ?? []), ...cli.globalCommand.options];
  return options.flatMap((option) => option.rawName.match(/--[a-zA-Z][\w-]*/g) ?? []);
}

// A closed stdout or stderr (a pager or `head` quit) is not an error of ours: a one-shot
// command ends quietly; a running server or client drops the lines and keeps running.
for (const stream of [process.stdout, process.stderr]) {
  stream.on('error', (error: NodeJS.ErrnoException) => {
    if (error.code !== 'EPIPE' && error.code !== 'ERR_STREAM_DESTROYED') fail(error);
    if (commandName !== '') process.exit(process.exitCode ?? 0);
  });
}
process.on('uncaughtException', fail);
process.on('unhandledRejection', fail);

const cli = cac('toxtunnel');

/** -c and -d: every subcommand that works on an instance resolves them the same way (resolveConfigSource). */
function withLocation(command: Command, what: string): Command {
  return command
    .option('-c, --config <file>', `YAML config file; its data_dir is ${what}`)
    .option('-d, --data-dir <dir>', `data directory (overrides the config's data_dir): ${what}`);
}

function withNetworkFlags(command: Command): Command {
  return command
    .option('-m, --mode <mode>', 'server or client')
    .option('-l, --log-level <level>', 'error, warn, info, debug or trace')
    .option('--server-id <id>', "client: the server's Tox ID (76 hex characters)")
    .option('-L, --local <spec>', 'client: forward [bind:]port:host:hostport (repeatable), e.g. -L 2222:127.0.0.1:22')
    .option('-R, --remote <spec>', 'client: the server listens on [bind:]port, connections come to host:hostport here (repeatable)')
    .option('-D, --dynamic <spec>', 'client: SOCKS5 proxy on [bind:]port (repeatable), e.g. -D 1080');
}

/** cac's key of a flag name: "-i" → "i", "--data-dir" → "dataDir". */
const flagKey = (name: string) => name.replace(/^-+/, '').replace(/-([a-z])/g, (_, c: string) => c.toUpperCase());

const runFlags = (f: ParsedFlags): RunFlags => {
  // tuntox's aliases (-i, -W, -C, -f) and the mode its flags imply (docs/tuntox.md).
  const tuntox = tuntoxFlags(
    (names) => names.flatMap((name) => allValues(f[flagKey(name)])),
    (names) => names.some((name) => f[flagKey(name)] !== undefined && f[flagKey(name)] !== false),
  );
  return {
    mode: lastValue(f.mode),
    impliedMode: tuntox.impliedMode,
    config: lastValue(f.config),
    dataDir: lastValue(f.dataDir) ?? tuntox.dataDir,
    logLevel: lastValue(f.logLevel),
    port: lastValue(f.port),
    serverId: lastValue(f.serverId),
    local: allValues(f.local),
    remote: allValues(f.remote),
    dynamic: allValues(f.dynamic),
    pipe: lastValue(f.pipe) ?? tuntox.pipe,
    secret: lastValue(f.secret),
    protocol: lastValue(f.protocol),
    rulesFile: tuntox.rulesFile,
    tuntoxIds: tuntox.tuntoxIds,
    metrics: lastValue(f.metrics),
    bootstrap: allValues(f.bootstrap),
    invite: lastValue(f.invite),
    proxy: lastValue(f.proxy),
    ...(f.allowAny === true ? { allowAny: true } : {}),
    service: f.service === true,
  };
};

const exitWith = (code: number) => {
  process.exitCode = code;
};
const print = (line: string) => void process.stdout.write(`${line}\n`);

withLocation(cli.command('print-id', "print this machine's Tox ID (creating and saving the identity if there is none)"), 'where the identity (tox_save.dat) is')
  .option('--public-key', 'print only the public key (64 hex): what a rules file names a friend by')
  .option('--qr', 'also print the ID as a QR code')
  .option('--color', 'colour the QR code (white on black)')
  .example('  $ toxtunnel print-id -c server.yaml')
  .action((f: ParsedFlags) =>
    printId({ config: lastValue(f.config), dataDir: lastValue(f.dataDir), publicKey: f.publicKey === true, qr: f.qr === true, color: f.color === true }),
  );

withLocation(
  cli.command('invite', 'server: print an invite line for a client: Tox ID, shared secret, address hints of the running server (docs/invite.md)'),
  'the server\'s',
)
  .option('--address <host>', 'an address of this machine to put in the invite (repeatable; none by default)')
  .option('--qr', 'also print the invite as a QR code')
  .example('  $ toxtunnel invite -c server.yaml --address 192.0.2.10')
  .action((f: ParsedFlags) => printInvite({ ...runFlags(f), addresses: allValues(f.address), qr: f.qr === true }, print).then(exitWith));

cli
  .command('init [scenario]', 'write server.yaml, client.yaml and rules.yaml for a scenario: ssh, rdp, vnc, postgres, mysql, redis, mongodb, web, nas, contractor (docs/init.md)')
  .option('--host <host>', 'the host the client may reach, as the server sees it (default 127.0.0.1)')
  .option('--port <port>', "the service's port on that host (default: the scenario's, e.g. 22 for ssh)")
  .option('--ports <list>', 'several service ports or names, e.g. 445,5001 or smb,ssh ("all": every port, broad)')
  .option('--local-port <port>', "the client's local port(s), one per service port (default: same, +10000 below 1024, ssh 2222)")
  .option('--client-key <key>', "the client's public key (64 hex; or its whole Tox ID)")
  .option('--server-id <id>', "the server's Tox ID (76 hex)")
  .option('--expires <when>', 'temporary access: 30m, 8h, 2d, or an ISO time (contractor: default 8h)')
  .option('-o, --out <dir>', 'where to write the files (default: the current directory)')
  .option('--force', 'overwrite existing files')
  .option('--allow-broad', 'allow a host pattern, a subnet or every port (warned)')
  .option('-y, --yes', 'ask nothing, even on a terminal (take the defaults)')
  .example('  $ toxtunnel init ssh --port 2200 --yes')
  .action((scenario: string | undefined, f: ParsedFlags) =>
    runInit(scenario === undefined ? [] : [String(scenario)], f as InitFlags, {
      stdin: process.stdin,
      stdout: process.stdout,
      stderr: process.stderr,
      isTTY: Boolean(process.stdin.isTTY && process.stdout.isTTY),
    }).then(exitWith),
  );

const controlDataDir = (f: ParsedFlags) => resolveConfigSource({ config: lastValue(f.config), dataDir: lastValue(f.dataDir) }).dataDir;

withLocation(cli.command('status', 'show the state of the running toxtunnel: network, friends, tunnels, traffic'), 'the running instance\'s')
  .option('--json', 'print the answer as JSON (raw numbers)')
  .option('-w, --watch', 'a live view, refreshed every second (q or Ctrl-C quits)')
  .example('  $ toxtunnel status -c client.yaml')
  .action((f: ParsedFlags) =>
    f.watch === true ? watchStatus(controlDataDir(f)).then(exitWith) : runControlCommand('status', { dataDir: controlDataDir(f), json: f.json === true }, print).then(exitWith),
  );

withLocation(cli.command('top', 'the live view of the running toxtunnel (status --watch): rates and sparklines, refreshed every second; q quits'), "the running instance's")
  .example('  $ toxtunnel top -c server.yaml')
  .action((f: ParsedFlags) => watchStatus(controlDataDir(f)).then(exitWith));

withLocation(cli.command('list', 'list the tunnels of the running toxtunnel'), 'the running instance\'s')
  .option('--json', 'print the answer as JSON (raw numbers)')
  .example('  $ toxtunnel list -c client.yaml')
  .action((f: ParsedFlags) => runControlCommand('list', { dataDir: controlDataDir(f), json: f.json === true }, print).then(exitWith));

withLocation(cli.command('close <tunnel>', 'close one tunnel of the running toxtunnel (refs: toxtunnel list)'), 'the running instance\'s')
  .option('--json', 'print the answer as JSON')
  .example('  $ toxtunnel close 0:3 -c client.yaml')
  .action((tunnel: string, f: ParsedFlags) => runControlCommand('close', { dataDir: controlDataDir(f), json: f.json === true, tunnel: String(tunnel) }, print).then(exitWith));

withNetworkFlags(
  withLocation(
    cli.command('doctor', 'check the setup bottom up (runtime, config, rules, identity, ports, Tox network, server, tunnels); says how to fix the first broken layer (docs/doctor.md)'),
    'the one checked',
  ),
)
  .option('--allow-any', 'server: check it as started with --allow-any')
  .option('--json', 'print the checks as JSON')
  .option('--timeout <seconds>', 'how long each network check may wait (default 30)')
  .example('  $ toxtunnel doctor -c client.yaml')
  .action((f: ParsedFlags) => runDoctor({ ...runFlags(f), json: f.json === true, timeout: lastValue(f.timeout) }, print).then(exitWith));

withLocation(
  cli.command('mcp', 'serve the Model Context Protocol on stdio for AI assistants: tunnel_create, tunnel_list, tunnel_close, tunnel_stats, server_status, print_id (docs/mcp.md)'),
  'the client\'s',
)
  .option('-l, --log-level <level>', 'error, warn, info, debug or trace (logs go to stderr)')
  .option('--server-id <id>', "the server's Tox ID (76 hex characters)")
  .option('--proxy <url>', 'reach the Tox network only through socks5://host:port or http://host:port (docs/proxy.md)')
  .option('-s, --secret <secret>', 'shared secret sent in the friend request (prefer TOXTUNNEL_SHARED_SECRET)')
  .example('  $ toxtunnel mcp -c client.yaml')
  // The SDK is loaded on use: only this command needs it.
  .action((f: ParsedFlags) => import('../mcp/mcp-command.ts').then(({ runMcp }) => runMcp(runFlags(f), VERSION)));

const runCommand = withNetworkFlags(withLocation(cli.command('[...args]', 'run the server or the client').usage('-m server|client [-c FILE] [options]   (or: toxtunnel <command> --help)'), 'where the identity and the control socket live'))
  .option('-p, --port <port>', 'TCP port of our own Tox relay (0 = none)')
  .option('--pipe <host:port>', 'client: carry stdin/stdout to host:port (ssh ProxyCommand); through the running client when there is one')
  .option('--invite <line>', "client: a `toxtunnel invite` line: the server's ID, secret and address hints (docs/invite.md)")
  .option('--proxy <url>', 'reach the Tox network only through socks5://host:port or http://host:port (UDP off; default: ALL_PROXY; none: no proxy; docs/proxy.md)')
  .option('-s, --secret <secret>', 'shared secret: the server accepts only friend requests carrying it (prefer TOXTUNNEL_SHARED_SECRET: flags show in ps)')
  .option('--bootstrap <host:port:key>', 'a bootstrap node (repeatable; replaces tox.bootstrap_nodes), e.g. --bootstrap 127.0.0.1:33445:<64 hex DHT key>')
  .option('--metrics <[bind:]port>', 'serve Prometheus metrics on http://bind:port/metrics (bind default 127.0.0.1)')
  .option('--allow-any', 'server: admit EVERY friend and let it reach any host, when no rules file, secret or whitelist configures access (not recommended; warned at every start)')
  .option('--service', 'run under a service manager: plain log lines on stderr; systemd readiness and watchdog (docs/service.md)')
  .option('--protocol <protocol>', "client: the server's protocol: auto (detect), toxtunnel or tuntox")
  .example('  $ toxtunnel -m client --server-id <76 hex> -L 2222:127.0.0.1:22')
  .action((args: string[], f: ParsedFlags) => {
    if (args.length > 0) throw Object.assign(new Error(`unknown command "${args[0]}"`), { name: 'CACError' });
    return run(runFlags(f));
  });

for (const alias of TUNTOX_ALIASES) runCommand.option(alias.flag, `tuntox: ${alias.meaning}`);

// cac pads every option line to the description's end: no trailing spaces in our help.
// tuntox's aliases are listed once, in a section of their own at the end of the run help.
cli.help((sections) => {
  const hasAliases = sections.some((section) => section.body.includes(' tuntox: '));
  const cleaned = sections.map((section) => ({
    ...section,
    body: section.body
      .split('\n')
      .filter((line) => !line.includes(' tuntox: '))
      .join('\n')
      .replace(/[ \t]+$/gm, ''),
  }));
  return hasAliases ? [...cleaned, { body: TUNTOX_HELP }] : cleaned;
});
cli.version(VERSION, '-v, --version');

try {
  const argv = protectArgv(process.argv);
  cli.parse(argv, { run: false });
  commandName = cli.matchedCommandName ?? '';
  cli.args = unprotect(cli.args);
  cli.options = unprotect(cli.options);
  await cli.runMatchedCommand();
} catch (error) {
  fail(error);
}
