// SPDX-License-Identifier: GPL-3.0-or-later
// Distribution: what a user gets without a compiler.
//  1. `npm pack` -> install the tarball into a fresh project (its dependencies from the npm
//     registry, through an empty npm cache so the registry really is asked) -> the installed
//     `toxtunnel` bin on Node, Bun and Deno, and `npm exec --package <tarball>` (npx).
//  2. scripts/compile.sh (bun build --compile) -> one executable that runs with no node, bun
//     or node_modules around it, and carries a real tunnel as the server.
//  3. Server and client on different runtimes (Bun -> Deno, Deno -> Node, Deno in pipe mode).
// Everything on loopback with one native tox-bootstrapd (bootstrap_mode: none). Fixed ports
// 29700-29779 only (scripts/arm64-check.sh uses 29780-29799); the echo service and the
// forwards listen on ports the kernel picks (a fixed TCP port inside the ephemeral range,
// 32768-60999, is sometimes held by another process's outgoing connection on a busy machine).
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { type Bootstrapd, startBootstrapd } from '../helpers/bootstrapd.ts';
import { ROOT, type Runtime, runtimeCommand } from '../helpers/peer.ts';
import { CLI, CliProcess, type Service, echo, echoRoundTrip, sha256, startService, testData } from '../helpers/tunnel-env.ts';

const MB = 1024 * 1024;
const VERSION = (JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { version: string }).version;
const BUN = join(ROOT, 'node_modules/.bin/bun');
const DENO = join(ROOT, 'node_modules/.bin/deno');
const P = {
  bootstrapUdp: 29700,
  bootstrapTcp: 29701,
  // each toxtunnel's own UDP range (start_port .. +9); `seed` varies the test data
  compiled: { seed: 3, server: 29710, client: 29720 },
  bunDeno: { seed: 4, server: 29730, client: 29740 },
  denoNode: { seed: 5, server: 29750, client: 29760 },
  denoPipe: { client: 29770 },
};

const TOX_ID = /\b[0-9A-F]{76}\b/;
const work = mkdtempSync(join(tmpdir(), 'toxtunnel-dist-'));
const cleanups: Array<() => unknown> = [];
let bootstrapd: Bootstrapd;
let echoService: Service;

/** Runs a command to completion within `ms`; a timeout, a failure to start or a non-zero exit throws with its output. */
function run(what: string, command: string, args: string[], options: { cwd?: string; env?: NodeJS.ProcessEnv; ms?: number } = {}) {
  const ms = options.ms ?? 60_000;
  const started = Date.now();
  const r = spawnSync(command, args, {
    cwd: options.cwd ?? ROOT,
    env: options.env ?? { ...process.env, NO_COLOR: '1' },
    encoding: 'utf8',
    timeout: ms,
    killSignal: 'SIGKILL',
    maxBuffer: 64 * MB,
  });
  const output = `${r.stdout ?? ''}${r.stderr ?? ''}`;
  if (r.error && (r.error as NodeJS.ErrnoException).code === 'ETIMEDOUT') throw new Error(`${what}: no result within ${ms / 1000} s (killed): ${command} ${args.join(' ')}\n${output.slice(-3000)}`);
  if (r.error) throw new Error(`${what}: cannot run ${command}: ${r.error.message}`);
  if (r.status !== 0) throw new Error(`${what}: exit ${r.status ?? r.signal}: ${command} ${args.join(' ')}\n${output.slice(-3000)}`);
  return { stdout: r.stdout, stderr: r.stderr, output, ms: Date.now() - started };
}

/** How a toxtunnel is started: on a runtime with dist/toxtunnel.mjs, or a compiled executable. */
type Runner = Runtime | { executable: string; cwd?: string; env?: NodeJS.ProcessEnv };
const runnerName = (r: Runner) => (typeof r === 'string' ? r : 'compiled');

function commandOf(runner: Runner): [string, string[]] {
  return typeof runner === 'string' ? runtimeCommand(runner, CLI) : [runner.executable, []];
}

function startToxtunnel(runner: Runner, args: string[], stdin: 'pipe' | 'ignore' = 'ignore'): CliProcess {
  const [command, prefix] = commandOf(runner);
  const env = typeof runner === 'string' ? { ...process.env, NO_COLOR: '1' } : (runner.env ?? { ...process.env, NO_COLOR: '1' });
  const child: ChildProcess = spawn(command, [...prefix, ...args], {
    cwd: typeof runner === 'string' ? ROOT : (runner.cwd ?? ROOT),
    stdio: [stdin, 'pipe', 'pipe'],
    env,
  });
  const p = new CliProcess(child);
  cleanups.push(() => p.kill());
  return p;
}

function printId(runner: Runner, dataDir: string): string {
  const [command, prefix] = commandOf(runner);
  const r = run(`print-id on ${runnerName(runner)}`, command, [...prefix, 'print-id', '-d', dataDir], {
    cwd: typeof runner === 'string' ? ROOT : (runner.cwd ?? ROOT),
    env: typeof runner === 'string' ? undefined : runner.env,
  });
  const id = TOX_ID.exec(r.stdout)?.[0];
  if (!id) throw new Error(`print-id on ${runnerName(runner)} printed no Tox ID: ${r.output}`);
  return id;
}

function toxYaml(startPort: number): string[] {
  return [
    'tox:',
    '  udp_enabled: true',
    '  tcp_port: 0',
    `  start_port: ${startPort}`,
    `  end_port: ${startPort + 9}`,
    '  bootstrap_mode: none',
    '  bootstrap_nodes:',
    '    - address: 127.0.0.1',
    `      port: ${bootstrapd.udpPort}`,
    `      public_key: ${bootstrapd.publicKey}`,
    `      tcp_ports: [${bootstrapd.tcpPort}]`,
  ];
}

function writeConfig(dir: string, name: string, lines: string[]): string {
  const path = join(dir, name);
  writeFileSync(path, [...lines, ''].join('\n'));
  return path;
}

async function startServer(runner: Runner, name: string, startPort: number) {
  const dir = join(work, name);
  mkdirSync(dir, { recursive: true });
  const dataDir = join(dir, 'server-data');
  const serverId = printId(runner, dataDir);
  const config = writeConfig(dir, 'server.yaml', ['mode: server', `data_dir: ${dataDir}`, 'logging:', '  level: info', ...toxYaml(startPort), 'server:', '  allow_any: true']);
  const server = startToxtunnel(runner, ['-c', config]);
  const shown = await server.waitForOutput(/Tox ID: ([0-9A-F]{76})/, 60_000, `${name}: server on ${runnerName(runner)} start`);
  assert.is(shown[1], serverId, `${name}: the server runs with the identity print-id showed`);
  return { server, serverId, dir };
}

function clientConfig(dir: string, name: string, serverId: string, startPort: number, client: string[]) {
  return writeConfig(dir, name, [
    'mode: client',
    `data_dir: ${join(dir, `${name}-data`)}`,
    'logging:',
    '  level: info',
    ...toxYaml(startPort),
    'client:',
    `  server_id: ${serverId}`,
    ...client,
  ]);
}

async function stopAll(...processes: CliProcess[]) {
  for (const p of processes) p.signal('SIGTERM');
  await Promise.all(processes.map((p) => p.exited(10_000).catch(() => p.kill())));
}

/** Server on one runner, client on another, 1 MB echoed through a forward; returns timings. */
async function tunnelAcross(serverRunner: Runner, clientRunner: Runner, ports: { seed: number; server: number; client: number }, name: string) {
  const { server, serverId, dir } = await startServer(serverRunner, name, ports.server);
  const config = clientConfig(dir, 'client.yaml', serverId, ports.client, [
    '  forwards:',
    '    - local_port: 0',
    '      remote_host: 127.0.0.1',
    `      remote_port: ${echoService.port}`,
  ]);
  const client = startToxtunnel(clientRunner, ['-c', config]);
  try {
    const forward = Number((await client.waitForOutput(/forwarding 127\.0\.0\.1:(\d+)/, 60_000, `${name}: client on ${runnerName(clientRunner)} listening`))[1]);
    const data = testData(1 * MB, ports.seed);
    const started = Date.now();
    const echoed = await echoRoundTrip(forward, data, 120_000);
    const echoMs = Date.now() - started;
    assert.is(echoed.length, data.length, `${name}: echoed length`);
    assert.is(sha256(echoed), sha256(data), `${name}: sha256 of 1 MB echoed`);
    const online = Date.now() - client.startedAt;
    assert.match(server.output, /Friend connection status: Connected/, `${name}: the server saw the client online`);
    return { echoMs, totalMs: online, server, client, serverId, dir };
  } catch (error) {
    throw new Error(`${name}: ${String(error)}\n--- server (${runnerName(serverRunner)}):\n${server.output.slice(-2000)}\n--- client (${runnerName(clientRunner)}):\n${client.output.slice(-2000)}`);
  }
}

test.before(async () => {
  try {
    bootstrapd = await startBootstrapd(P.bootstrapUdp, P.bootstrapTcp);
    echoService = await startService(0, echo);
  } catch (error) {
    console.error('setup failed:', error);
    throw error;
  }
});

test.after(async () => {
  for (const c of cleanups.splice(0).reverse()) {
    try {
      await c();
    } catch {}
  }
  await echoService?.close();
  bootstrapd?.stop();
  rmSync(work, { recursive: true, force: true });
});

test('npm pack: a small tarball with dist/ only, that installs from the registry and runs as `toxtunnel` on Node, Bun and Deno', () => {
  assert.ok(existsSync(CLI), 'dist/toxtunnel.mjs exists (./build.sh)');
  const packDir = join(work, 'pack');
  mkdirSync(packDir);
  const pack = run('npm pack', 'npm', ['pack', '--json', '--pack-destination', packDir], { ms: 120_000 });
  const info = (JSON.parse(pack.stdout) as Array<{ filename: string; size: number; unpackedSize: number; files: Array<{ path: string; mode: number }> }>)[0]!;
  const tarball = join(packDir, info.filename);
  const files = info.files.map((f) => f.path).sort();
  console.log(`  tarball ${info.filename}: ${info.size} bytes (${(info.size / MB).toFixed(2)} MiB), unpacked ${info.unpackedSize} bytes, files: ${files.join(' ')}`);

  // Only the bundles, package.json and the readme/licence: no sources, tests, maps, identities or secrets.
  const allowed = /^(package\.json|README\.md|LICEN[CS]E(\.md|\.txt)?|COPYING|dist\/(index|toxtunnel)\.mjs)$/i;
  const unexpected = files.filter((f) => !allowed.test(f));
  assert.equal(unexpected, [], `unexpected files in the tarball (a compiled executable left in dist/? see scripts/compile.sh --out): ${unexpected.join(', ')}`);
  for (const f of ['package.json', 'dist/index.mjs', 'dist/toxtunnel.mjs']) assert.ok(files.includes(f), `${f} is in the tarball`);
  assert.is(info.files.find((f) => f.path === 'dist/toxtunnel.mjs')!.mode & 0o111, 0o111, 'the bin is executable');
  assert.ok(info.size < 2 * MB, `tarball under 2 MiB (${info.size})`);

  // What is inside: the wasm embedded, no source map references, no build-machine paths.
  const unpacked = join(work, 'unpacked');
  mkdirSync(unpacked);
  run('tar', 'tar', ['-xzf', tarball, '-C', unpacked]);
  const bin = readFileSync(join(unpacked, 'package/dist/toxtunnel.mjs'), 'utf8');
  assert.ok(bin.startsWith('#!/usr/bin/env node\n'), 'the bin has a node shebang');
  for (const f of ['dist/index.mjs', 'dist/toxtunnel.mjs']) {
    const text = readFileSync(join(unpacked, 'package', f), 'utf8');
    assert.not.match(text, /sourceMappingURL/, `${f}: no source map reference`);
    assert.not.ok(text.includes(ROOT), `${f}: does not contain the build directory ${ROOT}`);
    assert.match(text, /"AGFzbQ[A-Za-z0-9+/]{1000}/, `${f}: the wasm is embedded (base64 of "\\0asm")`);
  }
  // Self-contained: the bin runs from the bare tarball, with no node_modules anywhere.
  const bare = run('bare tarball --version', process.execPath, [join(unpacked, 'package/dist/toxtunnel.mjs'), '--version'], { cwd: unpacked });
  assert.match(bare.stdout, `toxtunnel/${VERSION} `);

  // A fresh project; an empty npm cache, so the dependencies must come from the registry.
  const project = join(work, 'project');
  const cache = join(work, 'npm-cache');
  mkdirSync(project);
  writeFileSync(join(project, 'package.json'), '{ "name": "probe", "private": true }\n');
  const npmEnv = { ...process.env, NO_COLOR: '1', npm_config_cache: cache, npm_config_update_notifier: 'false' };
  let install;
  try {
    install = run('npm install', 'npm', ['install', '--offline=false', '--no-audit', '--no-fund', '--cache', cache, tarball], { cwd: project, env: npmEnv, ms: 180_000 });
  } catch (error) {
    throw new Error(`installing the tarball (dependencies from the npm registry) failed; is the npm registry reachable?\n${String(error)}`);
  }
  console.log(`  npm install of the tarball (empty cache): ${(install.ms / 1000).toFixed(1)} s`);
  const installed = join(project, 'node_modules/toxtunnel');

  // Nothing native, nothing run at install time, in the package or its dependencies.
  // (The bundle carries its dependencies inside, so they may one day be dropped from
  // "dependencies"; the installed set must stay within these pure-JS ones.)
  const packages = readdirSync(join(project, 'node_modules')).filter((n) => !n.startsWith('.'));
  assert.ok(packages.includes('toxtunnel'), 'toxtunnel is installed');
  const extra = packages.filter((n) => !['cac', 'toxtunnel', 'uqr', 'valibot', 'yaml'].includes(n));
  assert.equal(extra, [], `unexpected packages installed with toxtunnel: ${extra.join(', ')}`);
  console.log(`  installed: ${packages.sort().join(', ')}; none has install scripts or native code`);
  for (const name of packages) {
    const dir = join(project, 'node_modules', name);
    const pkg = JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8')) as { scripts?: Record<string, string>; gypfile?: boolean };
    for (const hook of ['preinstall', 'install', 'postinstall', 'prepare']) assert.not.ok(pkg.scripts?.[hook], `${name} has no ${hook} script`);
    assert.not.ok(pkg.gypfile || existsSync(join(dir, 'binding.gyp')), `${name} has no native addon`);
    const native = run('find .node', 'find', [dir, '-name', '*.node', '-o', '-name', '*.so', '-o', '-name', '*.dylib', '-o', '-name', '*.dll']).stdout.trim();
    assert.is(native, '', `${name} ships no native binaries`);
  }

  // npx toxtunnel (the installed bin), on Node.
  const version = run('installed bin --version', join(project, 'node_modules/.bin/toxtunnel'), ['--version'], { cwd: project });
  assert.match(version.stdout, new RegExp(`^toxtunnel/${VERSION} linux-\\w+ node-v`));
  const dataDir = join(work, 'pack-id');
  const id = run('installed bin print-id', join(project, 'node_modules/.bin/toxtunnel'), ['print-id', '-d', dataDir], { cwd: project });
  assert.match(id.stdout, TOX_ID);
  assert.is(statSync(join(dataDir, 'tox_save.dat')).mode & 0o777, 0o600, 'tox_save.dat is 0600');
  // The same identity read back on Bun and Deno from the installed package.
  const toxId = TOX_ID.exec(id.stdout)![0];
  const onBun = run('bun installed bin print-id', BUN, [join(installed, 'dist/toxtunnel.mjs'), 'print-id', '-d', dataDir], { cwd: project });
  assert.is(TOX_ID.exec(onBun.stdout)?.[0], toxId, 'bun reads the same identity');
  const onDeno = run('deno installed bin print-id', DENO, ['run', '-A', '--quiet', join(installed, 'dist/toxtunnel.mjs'), 'print-id', '-d', dataDir], { cwd: project });
  assert.is(TOX_ID.exec(onDeno.stdout)?.[0], toxId, 'deno reads the same identity');
  // bunx --bun toxtunnel, deno run -A npm:toxtunnel (both resolve the installed package).
  assert.match(run('bun x --bun toxtunnel', BUN, ['x', '--bun', 'toxtunnel', '--version'], { cwd: project }).stdout, new RegExp(`^toxtunnel/${VERSION} .* bun-v`));
  assert.match(run('deno run -A npm:toxtunnel', DENO, ['run', '-A', '--quiet', 'npm:toxtunnel', '--version'], { cwd: project }).stdout, new RegExp(`^toxtunnel/${VERSION} .* deno-v`));
  // npx --package <tarball> toxtunnel from an unrelated directory (npm exec installs it in its own cache).
  const elsewhere = join(work, 'elsewhere');
  mkdirSync(elsewhere);
  const npx = run('npm exec --package <tarball> toxtunnel', 'npm', ['exec', '--yes', '--cache', cache, `--package=${tarball}`, '--', 'toxtunnel', '--version'], { cwd: elsewhere, env: npmEnv, ms: 180_000 });
  assert.match(npx.stdout, `toxtunnel/${VERSION} `);
});

let compiled = '';

test('scripts/compile.sh: one executable that runs with no node, bun or node_modules, and ignores a .env beside it', () => {
  const out = join(work, 'compiled');
  let r;
  try {
    r = run('scripts/compile.sh', join(ROOT, 'scripts/compile.sh'), ['--out', out], { ms: 300_000 });
  } catch (error) {
    throw new Error(`bun build --compile failed: ${String(error)}`);
  }
  const name = readdirSync(out).find((n) => n.startsWith('toxtunnel-'));
  assert.ok(name, `compile.sh wrote an executable into ${out}: ${r.output}`);
  assert.match(name!, /^toxtunnel-(linux|darwin)-(x64|arm64)$/);
  compiled = join(out, name!);
  const size = statSync(compiled).size;
  console.log(`  ${r.stdout.trim()} (compile.sh took ${(r.ms / 1000).toFixed(1)} s)`);
  // Alone: an empty directory, no PATH (so no node/bun/deno to fall back on), another HOME.
  const alone = join(work, 'alone');
  mkdirSync(alone);
  const env = { PATH: '/nonexistent', HOME: alone, NO_COLOR: '1' };
  const started = Date.now();
  const version = run('compiled --version', compiled, ['--version'], { cwd: alone, env });
  console.log(`  ${name}: ${size} bytes, --version in ${Date.now() - started} ms: ${version.stdout.trim()}`);
  assert.match(version.stdout, new RegExp(`^toxtunnel/${VERSION} `));
  const id = run('compiled print-id', compiled, ['print-id', '-d', join(alone, 'data')], { cwd: alone, env });
  assert.match(id.stdout, TOX_ID);
  assert.ok(size > 10 * MB, 'the executable carries the runtime');
});

test('the compiled executable as the server, a Node client: 1 MB echoed through a forward, sha256 equal', async () => {
  assert.ok(compiled, 'the previous test compiled the executable');
  // Its working directory holds an .env that would break the config if bun loaded it.
  const cwd = join(work, 'compiled-cwd');
  mkdirSync(cwd);
  writeFileSync(join(cwd, '.env'), 'TOXTUNNEL_LOG_LEVEL=not-a-level-from-dotenv\n');
  writeFileSync(join(cwd, 'bunfig.toml'), 'this is = not [valid toml\n');
  chmodSync(compiled, 0o755);
  const runner = { executable: compiled, cwd, env: { PATH: '/nonexistent', HOME: cwd, NO_COLOR: '1' } };
  const r = await tunnelAcross(runner, 'node', P.compiled, 'compiled->node');
  console.log(`  compiled server <- node client: client start to 1 MB echoed ${r.totalMs} ms (echo ${r.echoMs} ms)`);
  await stopAll(r.client, r.server);
  assert.is(r.server.exitCode, 0, `the compiled server ends cleanly on SIGTERM:\n${r.server.output.slice(-1000)}`);
});

test('server on Bun, client on Deno: 1 MB echoed, sha256 equal', async () => {
  const r = await tunnelAcross('bun', 'deno', P.bunDeno, 'bun->deno');
  console.log(`  bun server <- deno client: client start to 1 MB echoed ${r.totalMs} ms (echo ${r.echoMs} ms)`);
  await stopAll(r.client, r.server);
});

test('server on Deno, client on Node (and a Deno client in pipe mode): 1 MB echoed each, sha256 equal', async () => {
  const r = await tunnelAcross('deno', 'node', P.denoNode, 'deno->node');
  console.log(`  deno server <- node client: client start to 1 MB echoed ${r.totalMs} ms (echo ${r.echoMs} ms)`);
  await stopAll(r.client);

  // Pipe mode (ssh ProxyCommand) on Deno against the same Deno server: stdin/stdout are the tunnel.
  const config = clientConfig(r.dir, 'pipe.yaml', r.serverId, P.denoPipe.client, []);
  const pipe = startToxtunnel('deno', ['-c', config, '--pipe', `127.0.0.1:${echoService.port}`], 'pipe');
  const data = testData(1 * MB, 7);
  const chunks: Buffer[] = [];
  let received = 0;
  pipe.child.stdout!.removeAllListeners('data'); // stdout is data now, not log output
  const done = new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`pipe: ${received} of ${data.length} bytes back after 120 s:\n${pipe.output.slice(-2000)}`)), 120_000);
    pipe.child.stdout!.on('data', (c: Buffer) => {
      chunks.push(c);
      received += c.length;
      if (received >= data.length) {
        clearTimeout(timer);
        resolve();
      }
    });
    pipe.child.on('exit', (code) => {
      clearTimeout(timer);
      if (received < data.length) reject(new Error(`pipe client exited (${code}) after ${received} bytes:\n${pipe.output.slice(-2000)}`));
    });
  });
  const started = Date.now();
  pipe.child.stdin!.on('error', () => {});
  pipe.child.stdin!.write(data);
  try {
    await done;
  } finally {
    pipe.child.stdin!.end();
  }
  const echoed = Buffer.concat(chunks);
  assert.is(echoed.length, data.length, 'pipe: exactly the bytes sent came back');
  assert.is(sha256(echoed), sha256(data), 'pipe: sha256 equal');
  // stdin's end is a half-close: the echo service ends, the tunnel closes, the process exits 0.
  const code = await pipe.exited(30_000);
  assert.is(code, 0, `pipe client exit code:\n${pipe.output.slice(-1000)}`);
  console.log(`  deno pipe client <- deno server: start to 1 MB echoed ${Date.now() - pipe.startedAt} ms (echo ${Date.now() - started} ms), exit ${code}`);
  await stopAll(r.server);
});

test.run();
