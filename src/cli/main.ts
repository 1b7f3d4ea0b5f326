// SPDX-License-Identifier: GPL-3.0-or-later
/**
 * The toxtunnel command line (flags as the C++ toxtunnel has them):
 *
 *   toxtunnel -m server [-c server.yaml] [-d DIR] [-l LEVEL] [-p TCP_PORT]
 *   toxtunnel -m client --server-id ID -L 2222:127.0.0.1:22 [-L …]
 *   toxtunnel -m client --server-id ID --pipe 127.0.0.1:22        (ssh ProxyCommand)
 *   toxtunnel -m client --server-id ID -R 8080:127.0.0.1:80 -D 1080 [-s SECRET]
 *   toxtunnel print-id [-d DIR] [--qr] [--color]
 *
 * A thin shell: each command turns flags into a resolved config and calls the library.
 * Every failure is one clear line (never a stack trace) and a non-zero exit code.
 */
import { cac } from 'cac';
import { isToxtunnelError } from '../errors.ts';
import { initFlagsFromArgv, runInit } from '../init/init-command.ts';
import { controlDataDir, runControlCommand } from './control-commands.ts';
import { printInvite } from './invite-command.ts';
import { printId } from './print-id.ts';
import { runDoctor } from '../doctor/doctor.ts';
import { run, type RunFlags } from './run.ts';

declare const __TOXTUNNEL_VERSION__: string | undefined;
export const VERSION = typeof __TOXTUNNEL_VERSION__ === 'string' ? __TOXTUNNEL_VERSION__ : 'dev';

/** Exit codes: 1 runtime failure, 2 bad usage or configuration. */
const EXIT_USAGE = 2;
const EXIT_FAILURE = 1;

function fail(error: unknown): never {
  if (isToxtunnelError(error)) {
    process.stderr.write(`toxtunnel: error: ${error.message}\n`);
    process.exit(error.code.startsWith('CONFIG_') || error.code.startsWith('CLI_') || error.code.endsWith('_INVALID') ? EXIT_USAGE : EXIT_FAILURE);
  }
  if (error instanceof Error && error.name === 'CACError') {
    process.stderr.write(`toxtunnel: error: ${error.message} (see toxtunnel --help)\n`);
    process.exit(EXIT_USAGE);
  }
  const message = error instanceof Error ? error.message : String(error);
  process.stderr.write(`toxtunnel: unexpected error: ${message}\n(this is a bug; run with TOXTUNNEL_DEBUG=1 for details)\n`);
  if (process.env.TOXTUNNEL_DEBUG && error instanceof Error) process.stderr.write(`${error.stack}\n`);
  process.exit(EXIT_FAILURE);
}

const cli = cac('toxtunnel');
// Every value is read as text ([String]): an all-digit Tox ID must not become a number.
const text = { type: [String] };
cli
  .option('-m, --mode <mode>', 'server or client', text)
  .option('-c, --config <file>', 'YAML config file', text)
  .option('-d, --data-dir <dir>', 'where tox_save.dat (the identity) lives', text)
  .option('-l, --log-level <level>', 'error, warn, info, debug or trace', text)
  .option('-p, --port <port>', 'TCP port of our own Tox relay (0 = none)', text)
  .option('--server-id <id>', 'client: the server\'s Tox ID (76 hex characters)', text)
  .option('-L, --local <spec>', 'client: forward [bind:]port:host:hostport (repeatable)', text)
  .option('-R, --remote <spec>', 'client: the server listens on [bind:]port, connections come to host:hostport here (repeatable)', text)
  .option('-D, --dynamic <spec>', 'client: SOCKS5 proxy on [bind:]port (repeatable)', text)
  .option('--pipe <host:port>', 'client: carry stdin/stdout to host:port (ssh ProxyCommand); through the running client when there is one', text)
  .option('--invite <line>', 'client: a `toxtunnel invite` line: the server\'s ID, secret and address hints (docs/invite.md)', text)
  .option('--proxy <url>', 'reach the Tox network only through socks5://host:port or http://host:port (UDP off; default: ALL_PROXY; none: no proxy; docs/proxy.md)', text)
  .option('-s, --secret <secret>', 'shared secret: the server accepts only friend requests carrying it (prefer TOXTUNNEL_SHARED_SECRET: flags show in ps)', text)
  .option('--allow-any', 'server: admit EVERY friend and let it reach any host, when no rules file, secret or whitelist configures access (not recommended; warned at every start)')
  .option('--service', 'run under a service manager: plain log lines on stderr; systemd readiness and watchdog (docs/service.md)');

/**
 * The raw text of every value of a flag, read from argv itself: cac's parser turns an
 * all-digit value (a Tox ID can be one) into a lossy number before `type` applies.
 */
function rawValues(argv: string[], names: string[]): string[] {
  const values: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    if (arg === '--') break;
    for (const name of names) {
      if (arg === name && i + 1 < argv.length) values.push(argv[++i]!);
      else if (arg.startsWith(`${name}=`)) values.push(arg.slice(name.length + 1));
    }
  }
  return values;
}

/** Flags as text; for single-valued flags the last one wins, as in ssh. */
function normalize(argv: string[]): RunFlags {
  const last = (...names: string[]) => rawValues(argv, names).at(-1);
  return {
    mode: last('-m', '--mode'),
    config: last('-c', '--config'),
    dataDir: last('-d', '--data-dir'),
    logLevel: last('-l', '--log-level'),
    port: last('-p', '--port'),
    serverId: last('--server-id'),
    local: rawValues(argv, ['-L', '--local']),
    remote: rawValues(argv, ['-R', '--remote']),
    dynamic: rawValues(argv, ['-D', '--dynamic']),
    pipe: last('--pipe'),
    secret: last('-s', '--secret'),
    invite: last('--invite'),
    ...(argv.includes('--allow-any') ? { allowAny: true } : {}),
    proxy: last('--proxy'),
  };
}

cli
  .command('print-id', 'print this machine\'s Tox ID (creating the identity if there is none)')
  .option('-d, --data-dir <dir>', 'data directory', text)
  .option('--qr', 'also print the ID as a QR code')
  .option('--color', 'colour the QR code (white on black)')
  .action((flags: { qr?: boolean; color?: boolean }) =>
    printId({ dataDir: rawValues(process.argv, ['-d', '--data-dir']).at(-1), qr: flags.qr, color: flags.color }).catch(fail),
  );

cli
  .command('invite', 'server: print an invite line for a client: Tox ID, shared secret, address hints of the running server (docs/invite.md)')
  .option('-c, --config <file>', 'the server\'s YAML config file', text)
  .option('-d, --data-dir <dir>', 'data directory of the server', text)
  .option('--address <host>', 'an address of this machine to put in the invite (repeatable; none by default)', text)
  .option('--qr', 'also print the invite as a QR code')
  .action((flags: { qr?: boolean }) =>
    printInvite({ ...normalize(process.argv.slice(2)), addresses: rawValues(process.argv, ['--address']), qr: flags.qr === true }, (line) => process.stdout.write(`${line}\n`))
      .then((code) => {
        process.exitCode = code;
      })
      .catch(fail),
  );

cli
  .command('init [scenario]', 'write server.yaml, client.yaml and rules.yaml for a scenario: ssh, rdp, vnc, postgres, mysql, redis, mongodb, web, nas, contractor (docs/init.md)')
  .option('--host <host>', 'the host the client may reach, as the server sees it (default 127.0.0.1)', text)
  .option('--port <port>', 'the service port (default: the scenario\'s)', text)
  .option('--ports <list>', 'several ports or service names, e.g. 445,5001 or smb,ssh ("all": every port, broad)', text)
  .option('--local-port <port>', 'the client\'s local port(s), one per service port (default: same, +10000 below 1024, ssh 2222)', text)
  .option('--client-key <key>', 'the client\'s public key (64 hex; or its whole Tox ID)', text)
  .option('--server-id <id>', 'the server\'s Tox ID (76 hex)', text)
  .option('--expires <when>', 'temporary access: 30m, 8h, 2d, or an ISO time (contractor: default 8h)', text)
  .option('-o, --out <dir>', 'where to write the files (default: the current directory)', text)
  .option('--force', 'overwrite existing files')
  .option('--allow-broad', 'allow a host pattern, a subnet or every port (warned)')
  .option('-y, --yes', 'ask nothing, even on a terminal (take the defaults)')
  // Values are read raw from argv (like print-id's -d): cac would turn an all-digit key or port list into a number.
  .action((scenario: string | undefined) =>
    runInit(scenario === undefined ? [] : [String(scenario)], initFlagsFromArgv(process.argv), {
      stdin: process.stdin,
      stdout: process.stdout,
      stderr: process.stderr,
      isTTY: Boolean(process.stdin.isTTY && process.stdout.isTTY),
    })
      .then((code) => {
        process.exitCode = code;
      })
      .catch(fail),
  );

// -d is read raw from argv (like print-id): cac would turn an all-digit dir into a number.
const controlDataDirFlag = () => rawValues(process.argv, ['-d', '--data-dir']).at(-1);
const runControl = (cmd: 'status' | 'list' | 'close', flags: { json?: boolean }, tunnel?: string) =>
  runControlCommand(cmd, { dataDir: controlDataDir(controlDataDirFlag()), json: flags.json === true, tunnel }, (line) => process.stdout.write(`${line}\n`))
    .then((code) => {
      process.exitCode = code;
    })
    .catch(fail);

cli
  .command('status', 'show the state of the toxtunnel running with this data directory')
  .option('-d, --data-dir <dir>', 'data directory of the running toxtunnel', text)
  .option('--json', 'print the answer as JSON')
  .action((flags: { json?: boolean }) => runControl('status', flags));

cli
  .command('list', 'list the tunnels of the running toxtunnel')
  .option('-d, --data-dir <dir>', 'data directory of the running toxtunnel', text)
  .option('--json', 'print the answer as JSON')
  .action((flags: { json?: boolean }) => runControl('list', flags));

cli
  .command('close <tunnel>', 'close one tunnel of the running toxtunnel (refs: toxtunnel list)')
  .option('-d, --data-dir <dir>', 'data directory of the running toxtunnel', text)
  .option('--json', 'print the answer as JSON')
  .action((tunnel: string, flags: { json?: boolean }) => runControl('close', flags, String(tunnel)));

cli
  .command('doctor', 'check the setup bottom up (runtime, config, rules, identity, ports, Tox network, server, tunnels); says how to fix the first broken layer (docs/doctor.md)')
  .option('--json', 'print the checks as JSON')
  .option('--timeout <seconds>', 'how long each network check may wait (default 30)', text)
  // Values are read raw from argv, as the run command's (normalize): cac would turn an all-digit Tox ID into a number.
  .action((flags: { json?: boolean }) =>
    runDoctor({ ...normalize(process.argv.slice(2)), json: flags.json === true, timeout: rawValues(process.argv, ['--timeout']).at(-1) }, (line) =>
      process.stdout.write(`${line}\n`),
    )
      .then((code) => {
        process.exitCode = code;
      })
      .catch(fail),
  );

cli
  .command('mcp', 'serve the Model Context Protocol on stdio for AI assistants: tunnel_create, tunnel_list, tunnel_close, tunnel_stats, server_status, print_id (docs/mcp.md)')
  // Takes the run command's -c (a client config), -d, -l, --server-id, --proxy, -s (global options).
  // Values are read raw from argv, as the run command's (normalize); loaded on use (the SDK is only needed here).
  .action(() =>
    import('../mcp/mcp-command.ts')
      .then(({ runMcp }) => runMcp(normalize(process.argv.slice(2)), VERSION))
      .catch(fail),
  );

cli.command('[...args]', 'run the server or the client').action((args: string[], options: { service?: boolean }) => {
  if (args.length > 0) fail(Object.assign(new Error(`unknown command "${args[0]}"`), { name: 'CACError' }));
  return run({ ...normalize(process.argv.slice(2)), service: options.service === true }).catch(fail);
});

cli.help();
cli.version(VERSION, '-v, --version');

try {
  cli.parse(process.argv, { run: false });
  await cli.runMatchedCommand();
} catch (error) {
  fail(error);
}
