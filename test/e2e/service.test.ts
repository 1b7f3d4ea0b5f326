// SPDX-License-Identifier: GPL-3.0-or-later
/**
 * --service: the sd_notify client (src/service/systemd-notify.ts) against a real Unix datagram
 * socket, and the plain service logger.
 *
 * Node cannot bind a Unix datagram socket, so the receiver standing in for systemd is a few
 * lines of python3 (AF_UNIX, SOCK_DGRAM, SO_PASSCRED): it prints each datagram with the
 * sender's SCM_CREDENTIALS pid and closes the file descriptors that come with it, as systemd
 * does (that is what completes systemd-notify's BARRIER=1 wait). The notifier runs in a
 * child process (Node through tsx, and Bun and Deno) from a script generated into a temporary
 * directory. Needs python3 and systemd-notify (Debian: apt-get install python3 systemd).
 * Every wait is bounded; every process started here is stopped.
 */
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { fstatSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { createServiceLogger, formatServiceLine, stderrIsJournal } from '../../src/service/service-logger.ts';
import { createServiceNotifier, noopNotifier, statusLine, watchdogIntervalMs } from '../../src/service/systemd-notify.ts';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const NOTIFIER = pathToFileURL(join(ROOT, 'src/service/systemd-notify.ts')).href;

function need(command: string, pkg: string): void {
  const found = spawnSync('sh', ['-c', `command -v ${command}`], { encoding: 'utf8' });
  if (found.status !== 0) {
    throw new Error(`${command} is missing: this test needs it (Debian: apt-get install ${pkg}; .ci/run installs it)`);
  }
}
need('python3', 'python3');
need('systemd-notify', 'systemd');

const work = mkdtempSync(join(tmpdir(), 'tt-svc-'));
const started = new Set<ChildProcess>();
process.on('exit', () => {
  for (const child of started) if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  rmSync(work, { recursive: true, force: true });
});

function bounded<T>(promise: Promise<T>, what: string, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms: ${what}`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

// --- the receiver (systemd's side) ---------------------------------------------------------

const RECEIVER_PY = String.raw`
import array, json, os, socket, struct, sys, time
path = sys.argv[1]
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.setsockopt(socket.SOL_SOCKET, socket.SO_PASSCRED, 1)
s.bind('\0' + path[1:] if path.startswith('@') else path)
print(json.dumps({"listening": path}), flush=True)
while True:
    data, anc, flags, _ = s.recvmsg(65536, socket.CMSG_SPACE(64 * 4) + socket.CMSG_SPACE(12))
    pid = None
    nfds = 0
    for level, kind, cdata in anc:
        if level == socket.SOL_SOCKET and kind == socket.SCM_RIGHTS:
            fds = array.array('i')
            fds.frombytes(cdata[:len(cdata) - len(cdata) % fds.itemsize])
            for fd in fds:
                os.close(fd)
                nfds += 1
        elif level == socket.SOL_SOCKET and kind == socket.SCM_CREDENTIALS:
            pid = struct.unpack('iII', cdata[:12])[0]
    print(json.dumps({"t": time.monotonic(), "pid": pid, "fds": nfds, "data": data.decode('utf-8', 'replace')}), flush=True)
`;

interface Datagram {
  t: number;
  pid: number | null;
  fds: number;
  data: string;
}

interface Receiver {
  readonly datagrams: Datagram[];
  /** Datagrams other than systemd-notify's BARRIER=1 acknowledgements. */
  messages(): Datagram[];
  stop(): Promise<void>;
}

function lines(stream: NodeJS.ReadableStream, onLine: (line: string) => void): void {
  let buffer = '';
  stream.setEncoding('utf8');
  stream.on('data', (chunk: string) => {
    buffer += chunk;
    let at: number;
    while ((at = buffer.indexOf('\n')) >= 0) {
      const line = buffer.slice(0, at);
      buffer = buffer.slice(at + 1);
      if (line.trim()) onLine(line);
    }
  });
}

async function startReceiver(path: string): Promise<Receiver> {
  const child = spawn('python3', ['-c', RECEIVER_PY, path], { stdio: ['ignore', 'pipe', 'pipe'] });
  started.add(child);
  const datagrams: Datagram[] = [];
  let stderr = '';
  child.stderr!.on('data', (d) => (stderr += d));
  const listening = new Promise<void>((resolve, reject) => {
    lines(child.stdout!, (line) => {
      const value = JSON.parse(line);
      if (value.listening) resolve();
      else datagrams.push(value as Datagram);
    });
    child.on('exit', (code) => reject(new Error(`receiver exited (${code}): ${stderr}`)));
  });
  await bounded(listening, 'python3 receiver listening', 5000);
  return {
    datagrams,
    messages: () => datagrams.filter((d) => d.data !== 'BARRIER=1'),
    async stop() {
      if (child.exitCode === null && child.signalCode === null) {
        const exited = new Promise((resolve) => child.once('exit', resolve));
        child.kill('SIGTERM');
        await bounded(exited, 'receiver exit', 3000).catch(() => child.kill('SIGKILL'));
      }
      started.delete(child);
    },
  };
}

// --- the notifier in a child process -------------------------------------------------------

type Runtime = 'node' | 'bun' | 'deno';

interface Scenario {
  /** How long to stay up between READY and STOPPING. */
  runMs: number;
  command?: string;
}

const CHILD = join(work, 'notifier-child.mjs');
writeFileSync(
  CHILD,
  `import { createServiceNotifier } from ${JSON.stringify(NOTIFIER)};
const out = (value) => process.stdout.write(JSON.stringify(value) + '\\n');
const scenario = JSON.parse(process.env.TT_SCENARIO);
const log = { warn: (message) => out({ warn: message }), debug: () => {} };
const notifier = createServiceNotifier(process.env, log, scenario.command ? { command: scenario.command } : {});
out({ pid: process.pid, active: notifier.active, watchdogIntervalMs: notifier.watchdogIntervalMs ?? null });
notifier.ready('tunnels up; Tox ID ABC123');
await new Promise((resolve) => setTimeout(resolve, scenario.runMs));
notifier.status('2 tunnels\\nopen');
await notifier.stopping();
notifier.close();
out({ done: true });
`,
);

function runtimeCommand(runtime: Runtime): [string, string[]] {
  switch (runtime) {
    case 'node':
      return [process.execPath, ['--import', 'tsx', CHILD]];
    case 'bun':
      return [join(ROOT, 'node_modules/.bin/bun'), [CHILD]];
    case 'deno':
      return [join(ROOT, 'node_modules/.bin/deno'), ['run', '-A', '--quiet', CHILD]];
  }
}

interface ChildResult {
  code: number | null;
  pid: number;
  active: boolean;
  watchdogIntervalMs: number | null;
  warnings: string[];
  done: boolean;
  stderr: string;
}

async function runNotifier(runtime: Runtime, env: Record<string, string | undefined>, scenario: Scenario): Promise<ChildResult> {
  const [command, args] = runtimeCommand(runtime);
  const childEnv: Record<string, string | undefined> = { ...process.env, TT_SCENARIO: JSON.stringify(scenario) };
  for (const name of ['NOTIFY_SOCKET', 'WATCHDOG_USEC', 'WATCHDOG_PID']) delete childEnv[name];
  Object.assign(childEnv, env);
  const child = spawn(command, args, { cwd: ROOT, env: childEnv, stdio: ['ignore', 'pipe', 'pipe'] });
  started.add(child);
  const result: ChildResult = { code: null, pid: -1, active: false, watchdogIntervalMs: null, warnings: [], done: false, stderr: '' };
  child.stderr!.on('data', (d) => (result.stderr += d));
  lines(child.stdout!, (line) => {
    let value: Record<string, unknown>;
    try {
      value = JSON.parse(line);
    } catch {
      return; // not ours
    }
    if (typeof value.pid === 'number') {
      result.pid = value.pid;
      result.active = value.active === true;
      result.watchdogIntervalMs = (value.watchdogIntervalMs as number | null) ?? null;
    }
    if (typeof value.warn === 'string') result.warnings.push(value.warn);
    if (value.done === true) result.done = true;
  });
  try {
    result.code = await bounded(new Promise<number | null>((resolve) => child.on('close', resolve)), `${runtime} notifier child`, 30_000);
  } finally {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    started.delete(child);
  }
  return result;
}

const median = (values: number[]) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)]!;

/** The full conversation with WATCHDOG_USEC=400000: READY first, pings every ~200 ms, STOPPING last. */
async function fullConversation(runtime: Runtime, socketName: (dir: string) => string): Promise<void> {
  const dir = mkdtempSync(join(work, `${runtime}-`));
  const path = socketName(dir);
  const receiver = await startReceiver(path);
  try {
    const child = await runNotifier(runtime, { NOTIFY_SOCKET: path, WATCHDOG_USEC: '400000' }, { runMs: 1300 });
    assert.is(child.code, 0, `${runtime} exit code; stderr: ${child.stderr}`);
    assert.ok(child.done, `${runtime} child finished`);
    assert.equal(child.warnings, [], `${runtime}: no warnings`);
    assert.ok(child.active);
    assert.is(child.watchdogIntervalMs, 200);

    await sleep(100); // the last datagrams are in the pipe from python
    const messages = receiver.messages();
    const datas = messages.map((m) => m.data);
    const ready = messages[0]!;
    assert.ok(ready, 'a first message');
    const readyFields = ready.data.split('\n');
    assert.ok(readyFields.includes('READY=1'), `first message is READY=1: ${JSON.stringify(ready.data)}`);
    assert.ok(readyFields.includes('STATUS=tunnels up; Tox ID ABC123'), `READY carries STATUS: ${JSON.stringify(ready.data)}`);
    assert.ok(readyFields.includes(`MAINPID=${child.pid}`), `READY carries MAINPID=${child.pid}: ${JSON.stringify(ready.data)}`);
    // As root systemd-notify sends with our pid in SCM_CREDENTIALS (NotifyAccess=main would
    // do); unprivileged the kernel refuses a foreign pid and the helper's own is used.
    if (process.getuid?.() === 0) assert.is(ready.pid, child.pid, 'root: the datagram is credited to the toxtunnel process');
    else assert.ok(typeof ready.pid === 'number');

    const last = messages.at(-1)!;
    assert.ok(last.data.split('\n').includes('STOPPING=1'), `last message is STOPPING=1: ${JSON.stringify(datas)}`);
    assert.ok(datas.includes('STATUS=2 tunnels open'), `STATUS update, one line: ${JSON.stringify(datas)}`);

    const pings = messages.filter((m) => m.data === 'WATCHDOG=1');
    const stoppingAt = last.t;
    assert.ok(pings.every((p) => p.t <= stoppingAt), 'no WATCHDOG=1 after STOPPING=1');
    // 1300 ms up at 200 ms: ~6 pings; generous bounds for a loaded 2-core machine.
    assert.ok(pings.length >= 4 && pings.length <= 8, `${runtime}: ${pings.length} WATCHDOG=1 in 1.3 s (expected ~6): ${JSON.stringify(datas)}`);
    const gaps = pings.slice(1).map((p, i) => (p.t - pings[i]!.t) * 1000);
    const typical = median(gaps);
    assert.ok(typical >= 150 && typical <= 280, `${runtime}: median gap between pings ${typical.toFixed(0)} ms (expected ~200): ${gaps.map((g) => g.toFixed(0)).join(', ')}`);
    assert.ok((pings[0]!.t - ready.t) * 1000 < 400, 'the first ping comes within one interval or so of READY');
    console.log(`  ${runtime}: ${pings.length} pings, median gap ${typical.toFixed(0)} ms, READY credited to pid ${ready.pid} (child ${child.pid})`);
  } finally {
    await receiver.stop();
  }
}

// --- tests ---------------------------------------------------------------------------------

test('no NOTIFY_SOCKET: a no-op notifier (no helper run, no warning, no watchdog)', async () => {
  const warnings: string[] = [];
  const log = { warn: (m: string) => warnings.push(m), debug: () => {} };
  const notifier = createServiceNotifier({ WATCHDOG_USEC: '100000' }, log, { command: join(work, 'no-such-helper') });
  assert.is(notifier, noopNotifier);
  assert.is(notifier.active, false);
  assert.is(notifier.watchdogIntervalMs, undefined);
  notifier.ready('up');
  notifier.status('x');
  await notifier.stopping();
  notifier.close();
  await notifier.flush();
  await sleep(250);
  assert.equal(warnings, []);
  assert.is(createServiceNotifier({ NOTIFY_SOCKET: '' }, log), noopNotifier, 'empty NOTIFY_SOCKET is unset');
});

test('watchdog interval: WATCHDOG_USEC / 2, only for our pid', () => {
  assert.is(watchdogIntervalMs({ WATCHDOG_USEC: '30000000' }, 42), 15_000);
  assert.is(watchdogIntervalMs({ WATCHDOG_USEC: '400000' }, 42), 200);
  assert.is(watchdogIntervalMs({ WATCHDOG_USEC: '400000', WATCHDOG_PID: '42' }, 42), 200);
  assert.is(watchdogIntervalMs({ WATCHDOG_USEC: '400000', WATCHDOG_PID: '' }, 42), 200);
  assert.is(watchdogIntervalMs({ WATCHDOG_USEC: '400000', WATCHDOG_PID: '43' }, 42), undefined);
  assert.is(watchdogIntervalMs({}, 42), undefined);
  assert.is(watchdogIntervalMs({ WATCHDOG_USEC: '0' }, 42), undefined);
  assert.is(watchdogIntervalMs({ WATCHDOG_USEC: 'soon' }, 42), undefined);
  assert.is(watchdogIntervalMs({ WATCHDOG_USEC: '1' }, 42), 1);
});

test('status text is one bounded line', () => {
  assert.is(statusLine('a\nb\r\nc'), 'a b c');
  assert.is(statusLine('  x  '), 'x');
  const long = statusLine('y'.repeat(2000));
  assert.is(long.length, 512);
  assert.ok(long.endsWith('…'));
});

test('Node: READY=1 (STATUS, MAINPID), WATCHDOG=1 every ~200 ms, STOPPING=1 on a real Unix datagram socket', async () => {
  await fullConversation('node', (dir) => join(dir, 'notify.sock'));
});

test('Node: an abstract-namespace NOTIFY_SOCKET (@name)', async () => {
  await fullConversation('node', (dir) => `@toxtunnel-test-${process.pid}-${dir.slice(-6)}`);
});

test('Bun: the same conversation', async () => {
  await fullConversation('bun', (dir) => join(dir, 'notify.sock'));
});

test('Deno: the same conversation', async () => {
  await fullConversation('deno', (dir) => join(dir, 'notify.sock'));
});

test('WATCHDOG_PID of another process: READY and STOPPING, no pings', async () => {
  const path = join(mkdtempSync(join(work, 'wpid-')), 'notify.sock');
  const receiver = await startReceiver(path);
  try {
    const child = await runNotifier('node', { NOTIFY_SOCKET: path, WATCHDOG_USEC: '100000', WATCHDOG_PID: '1' }, { runMs: 500 });
    assert.is(child.code, 0, child.stderr);
    assert.is(child.watchdogIntervalMs, null);
    await sleep(100);
    const datas = receiver.messages().map((m) => m.data);
    assert.ok(!datas.includes('WATCHDOG=1'), JSON.stringify(datas));
    assert.ok(datas[0]!.split('\n').includes('READY=1'), JSON.stringify(datas));
    assert.ok(datas.at(-1)!.split('\n').includes('STOPPING=1'), JSON.stringify(datas));
  } finally {
    await receiver.stop();
  }
});

test('NOTIFY_SOCKET pointing nowhere: one warning, no crash, the process carries on', async () => {
  const path = join(mkdtempSync(join(work, 'nowhere-')), 'nobody-listens.sock');
  // Pings every 50 ms for 600 ms: a dozen failed sends, one warning.
  const child = await runNotifier('node', { NOTIFY_SOCKET: path, WATCHDOG_USEC: '100000' }, { runMs: 600 });
  assert.is(child.code, 0, child.stderr);
  assert.ok(child.done);
  assert.is(child.warnings.length, 1, JSON.stringify(child.warnings));
  assert.match(child.warnings[0]!, /systemd notification failed/);
  assert.match(child.warnings[0]!, /No such file or directory|Connection refused/);
  assert.not.match(child.stderr, /Error:|\n\s+at /, 'nothing thrown');
});

test('systemd-notify missing: one warning, no crash, no further attempts', async () => {
  const path = join(mkdtempSync(join(work, 'missing-')), 'notify.sock');
  const receiver = await startReceiver(path);
  try {
    const child = await runNotifier(
      'node',
      { NOTIFY_SOCKET: path, WATCHDOG_USEC: '100000' },
      { runMs: 400, command: join(work, 'bin', 'systemd-notify') },
    );
    assert.is(child.code, 0, child.stderr);
    assert.ok(child.done);
    assert.is(child.warnings.length, 1, JSON.stringify(child.warnings));
    assert.match(child.warnings[0]!, /not found: install the systemd package/);
    assert.equal(receiver.messages(), []);
  } finally {
    await receiver.stop();
  }
});

test('a slow manager: messages stay in order, a newer STATUS replaces a waiting one, pings do not pile up', async () => {
  // A stand-in helper that takes 200 ms per message and records its arguments.
  const dir = mkdtempSync(join(work, 'slow-'));
  const record = join(dir, 'calls.txt');
  const helper = join(dir, 'slow-notify');
  writeFileSync(helper, `#!/bin/sh\necho "$*" >> '${record}'\nsleep 0.2\n`, { mode: 0o755 });
  const warnings: string[] = [];
  const notifier = createServiceNotifier(
    { NOTIFY_SOCKET: join(dir, 'unused.sock'), WATCHDOG_USEC: '40000' }, // a ping every 20 ms
    { warn: (m) => warnings.push(m), debug: () => {} },
    { command: helper, pid: 4242 },
  );
  notifier.ready('up');
  notifier.status('first');
  notifier.status('second');
  await sleep(1000);
  await bounded(notifier.stopping('bye'), 'stopping flushed', 4000);
  notifier.close();
  const calls = readFileSync(record, 'utf8').trim().split('\n');
  assert.equal(warnings, []);
  assert.is(calls[0], '--ready --pid=4242 --status=up');
  assert.is(calls[1], '--status=second', `the waiting "first" was replaced: ${JSON.stringify(calls)}`);
  assert.is(calls.at(-1), '--status=bye STOPPING=1');
  // ~50 ping ticks in 1 s, but one helper at a time and at most one ping waiting: ≤ ~6 calls.
  const pings = calls.filter((c) => c === 'WATCHDOG=1').length;
  assert.ok(pings >= 2 && pings <= 6, `${pings} pings: ${JSON.stringify(calls)}`);
  assert.ok(calls.length <= 9, JSON.stringify(calls));
});

test('Deno: NOTIFY_SOCKET pointing nowhere is one warning there too', async () => {
  const child = await runNotifier('deno', { NOTIFY_SOCKET: join(work, 'nope.sock'), WATCHDOG_USEC: '100000' }, { runMs: 300 });
  assert.is(child.code, 0, child.stderr);
  assert.is(child.warnings.length, 1, JSON.stringify(child.warnings));
});

test('service logger: plain "level: message" lines, no colour, no timestamp; levels filter', () => {
  const out: string[] = [];
  const log = createServiceLogger('info', { write: (t) => out.push(t), journal: false });
  log.info('tunnels up; Tox ID %s', 'ABC');
  log.warn('careful');
  log.error('broken\nsecond line');
  log.debug('hidden');
  assert.equal(out, ['info: tunnels up; Tox ID ABC\n', 'warning: careful\n', 'error: broken\n  second line\n']);
  assert.ok(out.every((line) => !line.includes('\u001b')), 'no escape sequences');

  const trace: string[] = [];
  createServiceLogger('trace', { write: (t) => trace.push(t), journal: false }).debug('shown');
  assert.equal(trace, ['debug: shown\n']);
  const quiet: string[] = [];
  const errorsOnly = createServiceLogger('error', { write: (t) => quiet.push(t), journal: false });
  errorsOnly.warn('no');
  errorsOnly.error('yes');
  assert.equal(quiet, ['error: yes\n']);
});

test('service logger: syslog priority prefixes when stderr is the journal', () => {
  assert.is(formatServiceLine('warn', 'a\nb', [], true), '<4>warning: a\n<4>  b\n');
  assert.is(formatServiceLine('error', 'x', [], true), '<3>error: x\n');
  assert.is(formatServiceLine('info', 'x', [], true), '<6>info: x\n');
  assert.is(formatServiceLine('debug', 'x', [], true), '<7>debug: x\n');
  assert.is(stderrIsJournal({}), false);
  assert.is(stderrIsJournal({ JOURNAL_STREAM: '1:2' }), false, 'another stream');
  const stat = fstatSync(2);
  assert.is(stderrIsJournal({ JOURNAL_STREAM: `${stat.dev}:${stat.ino}` }), true, 'fd 2 is the announced stream');
  const out: string[] = [];
  createServiceLogger('info', { write: (t) => out.push(t), env: { JOURNAL_STREAM: `${stat.dev}:${stat.ino}` } }).info('hello');
  assert.equal(out, ['<6>info: hello\n']);
});

test.run();
