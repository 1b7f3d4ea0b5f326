// SPDX-License-Identifier: GPL-3.0-or-later
/**
 * The control socket: server, client and the status/list/close CLI commands, against a fake
 * ControlTarget on a real Unix socket in a temporary directory. Every wait is bounded.
 */
import { mkdtempSync, renameSync, rmSync, statSync, writeFileSync, existsSync, readFileSync } from 'node:fs';
import { createConnection, createServer, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { runControlCommand } from '../../src/cli/control-commands.ts';
import { humanBytes, humanDuration, humanRate, sparkline } from '../../src/cli/status-view.ts';
import { controlRequest } from '../../src/control/control-client.ts';
import { type ControlTarget, controlSocketPath, MAX_REQUEST_LINE_BYTES, maxSocketPathBytes } from '../../src/control/control-protocol.ts';
import { startControlServer } from '../../src/control/control-server.ts';
import { isToxtunnelError, ToxtunnelError } from '../../src/errors.ts';

const WAIT_MS = 3000;

function bounded<T>(promise: Promise<T>, what: string, ms = WAIT_MS): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms: ${what}`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

async function withDir(fn: (dir: string) => Promise<void>): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'tt-ctl-'));
  try {
    await fn(dir);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

type Tunnel = { id: number; state: string; target: string; bytesIn: number; bytesOut: number; [k: string]: unknown };

const FAKE_STATUS = {
  mode: 'server',
  toxId: 'AB'.repeat(38),
  network: 'udp',
  uptimeSeconds: 3725,
  friends: [
    { friend: 0, publicKey: 'CD'.repeat(32), name: 'alice', connection: 'tcp', keepalive: 'alive', rttMs: 42, tunnels: 1, bytesIn: 3 * 1024 * 1024, bytesOut: 1536, rateIn: 2048, rateOut: 0 },
  ],
  connectionsTotal: 7,
  connectionsActive: 2,
  errors: 1,
  bytesIn: 3 * 1024 * 1024,
  bytesOut: 1536,
  rateIn: 2048,
  rateOut: 0,
  flavour: 'odd\u001b',
};

function fakeTarget(tunnels: Tunnel[] = [
  { id: 1, state: 'open', target: '127.0.0.1:22', bytesIn: 512, bytesOut: 2048, friend: 3 },
  { id: 2, state: 'connecting', target: 'example.org:443', bytesIn: 0, bytesOut: 0 },
]): ControlTarget & { closed: string[]; tunnels: Tunnel[] } {
  const closed: string[] = [];
  return {
    closed,
    tunnels,
    status: () => ({ ...FAKE_STATUS, connectionsActive: tunnels.length }),
    list: () => tunnels.map((t) => ({ ...t })),
    async close(ref: string) {
      await new Promise((r) => setTimeout(r, 5));
      const index = tunnels.findIndex((t) => String(t.id) === ref);
      if (index === -1) return false;
      closed.push(ref);
      tunnels.splice(index, 1);
      return true;
    },
  };
}

/** Server + target in a temp dir; closes the server and removes the dir afterwards. */
async function withServer(fn: (ctx: { dir: string; path: string; target: ReturnType<typeof fakeTarget>; warnings: string[] }) => Promise<void>, target = fakeTarget()) {
  await withDir(async (dir) => {
    const path = controlSocketPath(dir);
    const warnings: string[] = [];
    const server = await bounded(startControlServer(path, target, { warn: (m) => warnings.push(m) }), 'startControlServer');
    try {
      await fn({ dir, path, target, warnings });
    } finally {
      await bounded(server.close(), 'server.close');
    }
  });
}

async function expectCode(promise: Promise<unknown>, code: string, message?: RegExp): Promise<ToxtunnelError> {
  try {
    await bounded(promise, `expecting ${code}`);
  } catch (error) {
    assert.ok(isToxtunnelError(error), `expected a ToxtunnelError, got ${String(error)}`);
    assert.is((error as ToxtunnelError).code, code, (error as Error).message);
    if (message) assert.match((error as Error).message, message);
    return error as ToxtunnelError;
  }
  assert.unreachable(`expected ${code}, but it succeeded`);
  throw new Error('unreachable');
}

/** A raw line-oriented connection to the control socket. */
async function rawConnection(path: string) {
  const socket: Socket = createConnection(path);
  await bounded(new Promise<void>((resolve, reject) => socket.once('connect', resolve).once('error', reject)), 'raw connect');
  let buffer = '';
  const waiters: Array<() => void> = [];
  let ended = false;
  socket.setEncoding('utf8');
  socket.on('data', (text: string) => {
    buffer += text;
    waiters.splice(0).forEach((w) => w());
  });
  socket.on('close', () => {
    ended = true;
    waiters.splice(0).forEach((w) => w());
  });
  socket.on('error', () => {});
  return {
    send: (text: string) => socket.write(text),
    async line(): Promise<Record<string, any>> {
      return bounded(
        (async () => {
          while (!buffer.includes('\n')) {
            if (ended) throw new Error(`connection closed; got ${JSON.stringify(buffer)}`);
            await new Promise<void>((r) => waiters.push(r));
          }
          const newline = buffer.indexOf('\n');
          const line = buffer.slice(0, newline);
          buffer = buffer.slice(newline + 1);
          return JSON.parse(line);
        })(),
        'response line',
      );
    },
    closed: () => bounded(new Promise<void>((r) => (ended ? r() : socket.once('close', () => r()))), 'connection close'),
    destroy: () => socket.destroy(),
  };
}

function listenPlain(path: string, onConnection: (s: Socket) => void = () => {}): Promise<Server> {
  const server = createServer(onConnection);
  return bounded(new Promise<Server>((resolve, reject) => server.once('error', reject).listen(path, () => resolve(server))), 'plain listen');
}

function closePlain(server: Server): Promise<void> {
  return bounded(new Promise<void>((r) => server.close(() => r())), 'plain close');
}

// ---------------------------------------------------------------------------------------------

test('status, list and close round-trip through the socket', async () => {
  await withServer(async ({ path, target }) => {
    const status = (await bounded(controlRequest(path, { cmd: 'status' }), 'status')) as Record<string, unknown>;
    assert.equal(status, { ...FAKE_STATUS, connectionsActive: 2 });

    const list = await bounded(controlRequest(path, { cmd: 'list' }), 'list');
    assert.equal(list, [
      { id: 1, state: 'open', target: '127.0.0.1:22', bytesIn: 512, bytesOut: 2048, friend: 3 },
      { id: 2, state: 'connecting', target: 'example.org:443', bytesIn: 0, bytesOut: 0 },
    ]);

    assert.is(await bounded(controlRequest(path, { cmd: 'close', tunnel: '2' }), 'close 2'), true);
    assert.equal(target.closed, ['2']);
    assert.equal(((await bounded(controlRequest(path, { cmd: 'list' }), 'list')) as unknown[]).length, 1);
  });
});

test('close of an unknown tunnel answers false', async () => {
  await withServer(async ({ path, target }) => {
    assert.is(await bounded(controlRequest(path, { cmd: 'close', tunnel: '99' }), 'close 99'), false);
    assert.equal(target.closed, []);
    assert.is(target.tunnels.length, 2);
  });
});

test('the socket file is 0600 even under a permissive umask, and the umask is restored', async () => {
  const before = process.umask(0o002);
  try {
    await withServer(async ({ path }) => {
      assert.ok(statSync(path).isSocket());
      assert.is((statSync(path).mode & 0o777).toString(8), '600');
      const now = process.umask(0o002);
      assert.is(now.toString(8), '2', 'umask restored after listen');
    });
  } finally {
    process.umask(before);
  }
});

test('bad requests get CONTROL_BAD_REQUEST and the connection keeps working', async () => {
  await withServer(async ({ path }) => {
    const c = await rawConnection(path);
    try {
      c.send('this is not json\n');
      let r = await c.line();
      assert.is(r.ok, false);
      assert.is(r.error.code, 'CONTROL_BAD_REQUEST');
      assert.type(r.error.message, 'string');

      c.send('{"cmd":"reboot"}\n["status"]\n{"cmd":"close"}\n\n');
      for (const what of ['unknown cmd', 'array', 'close without tunnel', 'empty line']) {
        r = await c.line();
        assert.is(r.ok, false, what);
        assert.is(r.error.code, 'CONTROL_BAD_REQUEST', what);
      }
      assert.match((await Promise.resolve(r)).error.message, /JSON/);

      // Split across writes, CRLF-terminated: still one request.
      c.send('{"cmd":');
      await new Promise((res) => setTimeout(res, 20));
      c.send('"status"}\r\n');
      r = await c.line();
      assert.is(r.ok, true);
      assert.is(r.result.mode, 'server');
    } finally {
      c.destroy();
    }
  });
});

test('pipelined requests are answered in order', async () => {
  await withServer(async ({ path }) => {
    const c = await rawConnection(path);
    try {
      c.send('{"cmd":"close","tunnel":"1"}\n{"cmd":"list"}\n{"cmd":"close","tunnel":"1"}\n');
      assert.equal(await c.line(), { ok: true, result: true });
      const list = await c.line();
      assert.equal(list.result.map((t: { id: number }) => t.id), [2]);
      assert.equal(await c.line(), { ok: true, result: false });
    } finally {
      c.destroy();
    }
  });
});

test('a line of exactly 64 KiB is served; a longer one gets an error and the connection closes', async () => {
  await withServer(async ({ path }) => {
    const c = await rawConnection(path);
    try {
      const head = '{"cmd":"status","pad":"';
      const tail = '"}';
      const exact = head + 'x'.repeat(MAX_REQUEST_LINE_BYTES - head.length - tail.length) + tail;
      assert.is(Buffer.byteLength(exact), MAX_REQUEST_LINE_BYTES);
      c.send(`${exact}\n`);
      assert.is((await c.line()).ok, true);

      c.send('x'.repeat(MAX_REQUEST_LINE_BYTES + 1));
      const r = await c.line();
      assert.is(r.ok, false);
      assert.is(r.error.code, 'CONTROL_REQUEST_TOO_LARGE');
      await c.closed();
    } finally {
      c.destroy();
    }
    // The server still serves new connections.
    assert.is((await bounded(controlRequest(path, { cmd: 'status' }), 'status after'))!.constructor, Object);
  });
});

test('errors thrown by the target become error responses', async () => {
  const target: ControlTarget = {
    status: () => {
      throw new ToxtunnelError('TOX_NOT_READY', 'not yet bootstrapped');
    },
    list: () => {
      throw new Error('boom');
    },
    close: async () => {
      throw new TypeError('bad ref');
    },
  };
  await withDir(async (dir) => {
    const path = controlSocketPath(dir);
    const warnings: string[] = [];
    const server = await bounded(startControlServer(path, target, { warn: (m) => warnings.push(m) }), 'start');
    try {
      await expectCode(controlRequest(path, { cmd: 'status' }), 'TOX_NOT_READY', /bootstrapped/);
      await expectCode(controlRequest(path, { cmd: 'list' }), 'CONTROL_INTERNAL', /boom/);
      await expectCode(controlRequest(path, { cmd: 'close', tunnel: 'x' }), 'CONTROL_INTERNAL', /bad ref/);
      assert.is(warnings.length, 2, warnings.join('\n'));
    } finally {
      await bounded(server.close(), 'close');
    }
  });
});

test('a stale socket file is replaced', async () => {
  await withDir(async (dir) => {
    const path = controlSocketPath(dir);
    // Make a socket file nobody listens on: listen elsewhere, move the file, stop listening.
    const aside = join(dir, 'aside.sock');
    const plain = await listenPlain(aside);
    renameSync(aside, path);
    await closePlain(plain);
    assert.ok(statSync(path).isSocket(), 'stale socket exists');
    await expectCode(controlRequest(path, { cmd: 'status' }), 'CONTROL_NOT_RUNNING');

    const warnings: string[] = [];
    const server = await bounded(startControlServer(path, fakeTarget(), { warn: (m) => warnings.push(m) }), 'start over stale');
    try {
      assert.match(warnings.join('\n'), /stale/);
      assert.is(((await bounded(controlRequest(path, { cmd: 'status' }), 'status')) as { mode: string }).mode, 'server');
    } finally {
      await bounded(server.close(), 'close');
    }
  });
});

test('a regular file at the socket path is left alone', async () => {
  await withDir(async (dir) => {
    const path = controlSocketPath(dir);
    writeFileSync(path, 'precious');
    await expectCode(startControlServer(path, fakeTarget()), 'CONTROL_PATH_NOT_SOCKET', /not a socket/);
    assert.is(readFileSync(path, 'utf8'), 'precious');
  });
});

test('a second server on the same path fails with CONTROL_IN_USE; the first keeps working', async () => {
  await withServer(async ({ path }) => {
    await expectCode(startControlServer(path, fakeTarget([])), 'CONTROL_IN_USE', /already running/);
    const list = (await bounded(controlRequest(path, { cmd: 'list' }), 'list')) as unknown[];
    assert.is(list.length, 2, 'still answered by the first server');
  });
});

test('close() ends connections, removes the socket file and is idempotent', async () => {
  await withDir(async (dir) => {
    const path = controlSocketPath(dir);
    const server = await bounded(startControlServer(path, fakeTarget()), 'start');
    const c = await rawConnection(path);
    await bounded(server.close(), 'close');
    await c.closed();
    assert.not.ok(existsSync(path), 'socket file removed');
    await bounded(server.close(), 'second close');
    await expectCode(controlRequest(path, { cmd: 'status' }), 'CONTROL_NOT_RUNNING');
  });
});

test('the server creates a missing data directory as 0700', async () => {
  await withDir(async (dir) => {
    const dataDir = join(dir, 'new', 'data');
    const server = await bounded(startControlServer(controlSocketPath(dataDir), fakeTarget()), 'start');
    try {
      assert.is((statSync(dataDir).mode & 0o777).toString(8), '700');
    } finally {
      await bounded(server.close(), 'close');
    }
  });
});

test('client without a server: CONTROL_NOT_RUNNING naming the data dir', async () => {
  await withDir(async (dir) => {
    const error = await expectCode(controlRequest(controlSocketPath(dir), { cmd: 'status' }), 'CONTROL_NOT_RUNNING', /-d DIR/);
    assert.ok(error.message.includes(dir), error.message);
  });
});

test('client against a server that never answers: CONTROL_TIMEOUT', async () => {
  await withDir(async (dir) => {
    const path = controlSocketPath(dir);
    const held: Socket[] = [];
    const silent = await listenPlain(path, (s) => held.push(s));
    try {
      const started = Date.now();
      await expectCode(controlRequest(path, { cmd: 'status' }, 150), 'CONTROL_TIMEOUT', /150 ms/);
      assert.ok(Date.now() - started < 2000);
    } finally {
      held.forEach((s) => s.destroy());
      await closePlain(silent);
    }
  });
});

test('client against a server that hangs up: CONTROL_PROTOCOL', async () => {
  await withDir(async (dir) => {
    const path = controlSocketPath(dir);
    const rude = await listenPlain(path, (s) => s.resume().end('not json\n'));
    try {
      await expectCode(controlRequest(path, { cmd: 'status' }), 'CONTROL_PROTOCOL');
    } finally {
      await closePlain(rude);
    }
  });
});

test('socket paths longer than the kernel allows are refused, not truncated', async () => {
  await withDir(async (dir) => {
    const max = maxSocketPathBytes();
    // sizeof(sun_path) - 1: Node truncates longer paths silently, so the limit must be exact.
    if (process.platform === 'linux') assert.is(max, 107);
    if (process.platform === 'darwin') assert.is(max, 103);
    const prefix = `${dir}/`;
    const longest = prefix + 'a'.repeat(max - prefix.length);
    const tooLong = prefix + 'b'.repeat(max + 1 - prefix.length);
    assert.is(Buffer.byteLength(longest), max);

    const error = await expectCode(startControlServer(tooLong, fakeTarget()), 'CONTROL_PATH_TOO_LONG', new RegExp(`at most ${max} bytes`));
    assert.is(error.details.bytes, max + 1);
    await expectCode(controlRequest(tooLong, { cmd: 'status' }), 'CONTROL_PATH_TOO_LONG');

    const server = await bounded(startControlServer(longest, fakeTarget()), 'start at the limit');
    try {
      assert.ok(statSync(longest).isSocket(), 'bound at the exact name');
      assert.is(((await bounded(controlRequest(longest, { cmd: 'status' }), 'status')) as { mode: string }).mode, 'server');
    } finally {
      await bounded(server.close(), 'close');
    }
  });
});

test('runControlCommand: human output', async () => {
  await withServer(async ({ dir, target }) => {
    target.tunnels.push({ id: 3, state: 'open', target: 'evil\u001b[31m.example:80', bytesIn: 3 * 1024 * 1024, bytesOut: 1536 });
    const lines: string[] = [];
    const out = (line: string) => lines.push(line);

    assert.is(await bounded(runControlCommand('status', { dataDir: dir, json: false }, out), 'status'), 0);
    assert.equal(lines.splice(0), [
      `toxtunnel:   server, up 1h 02m`,
      `Tox ID:      ${'AB'.repeat(38)}`,
      `Tox network: connected, direct (UDP)`,
      `friends:     alice (CDCDCDCD…): online, through a TCP relay, RTT 42 ms, 1 tunnel(s), in 3.0 MiB (2.0 KiB/s), out 1.5 KiB (0 B/s)`,
      `tunnels:     3 open, 7 opened since start, 1 error(s)`,
      `traffic:     in 3.0 MiB (2.0 KiB/s), out 1.5 KiB (0 B/s)`,
      `flavour:     odd\\x1b`,
    ]);

    assert.is(await bounded(runControlCommand('list', { dataDir: dir, json: false }, out), 'list'), 0);
    const [header, ...rows] = lines.splice(0);
    assert.match(header!, /^ID\s+FRIEND\s+STATE\s+TARGET\s+IN\s+OUT$/);
    assert.is(rows.length, 3);
    assert.match(rows[0]!, /^1\s+3\s+open\s+127\.0\.0\.1:22\s+512 B\s+2\.0 KiB$/);
    assert.match(rows[1]!, /^2\s+-\s+connecting\s+example\.org:443\s+0 B\s+0 B$/);
    // IN and OUT are right-aligned: every row ends its OUT cell where the header's OUT ends.
    for (const row of rows) assert.is(row.length, header!.length, row);
    assert.ok(rows[2]!.includes('evil\\x1b[31m.example:80'), rows[2]);
    assert.not.ok(rows.join('').includes('\u001b'), 'no raw escape reaches the terminal');
    // Columns line up: STATE starts at the same offset in every line.
    const stateColumn = header!.indexOf('STATE');
    for (const row of rows) assert.is(row.slice(stateColumn).search(/\S/), 0, row);

    assert.is(await bounded(runControlCommand('close', { dataDir: dir, json: false, tunnel: '1' }, out), 'close 1'), 0);
    assert.equal(lines.splice(0), ['closed tunnel 1']);
    assert.is(await bounded(runControlCommand('close', { dataDir: dir, json: false, tunnel: '1' }, out), 'close 1 again'), 1);
    assert.equal(lines.splice(0), ['no tunnel 1']);

    target.tunnels.splice(0);
    assert.is(await bounded(runControlCommand('list', { dataDir: dir, json: false }, out), 'empty list'), 0);
    assert.equal(lines.splice(0), ['no tunnels']);
  });
});

test('runControlCommand: --json output', async () => {
  await withServer(async ({ dir }) => {
    const lines: string[] = [];
    const out = (line: string) => lines.push(line);
    assert.is(await bounded(runControlCommand('status', { dataDir: dir, json: true }, out), 'status'), 0);
    assert.equal(JSON.parse(lines.join('\n')), { ...FAKE_STATUS, connectionsActive: 2 });
    assert.ok(lines.join('\n').includes('\n  "mode"'), 'pretty-printed');
    lines.splice(0);

    assert.is(await bounded(runControlCommand('list', { dataDir: dir, json: true }, out), 'list'), 0);
    assert.equal((JSON.parse(lines.join('\n')) as Array<{ id: number }>).map((t) => t.id), [1, 2]);
    lines.splice(0);

    assert.is(await bounded(runControlCommand('close', { dataDir: dir, json: true, tunnel: '7' }, out), 'close 7'), 1);
    assert.equal(lines.splice(0), ['false']);
    assert.is(await bounded(runControlCommand('close', { dataDir: dir, json: true, tunnel: '2' }, out), 'close 2'), 0);
    assert.equal(lines.splice(0), ['true']);
  });
});

test('runControlCommand: errors are ToxtunnelErrors', async () => {
  await withDir(async (dir) => {
    const lines: string[] = [];
    await expectCode(runControlCommand('status', { dataDir: dir, json: false }, (l) => lines.push(l)), 'CONTROL_NOT_RUNNING', /start it, or point at it with -c CONFIG or -d DIR/);
    await expectCode(runControlCommand('close', { dataDir: dir, json: false }, (l) => lines.push(l)), 'CLI_INVALID');
    assert.equal(lines, []);
  });
});

test('human units: bytes (binary, as du -h), rates, durations; sparkline', () => {
  assert.is(humanBytes(1023), '1023 B');
  assert.is(humanBytes(1024), '1.0 KiB');
  assert.is(humanBytes(5 * 1024 ** 3), '5.0 GiB');
  assert.is(humanRate(1536), '1.5 KiB/s');
  assert.is(humanDuration(59), '59s');
  assert.is(humanDuration(185), '3m 05s');
  assert.is(humanDuration(7380), '2h 03m');
  assert.is(humanDuration(4 * 86400 + 2 * 3600), '4d 02h');
  assert.is(sparkline([0, 0, 0]), '▁▁▁');
  assert.is(sparkline([0, 2, 14]), '▁▂█'); // 8 levels: 2/14 of the top is one step up
});

test.run();
