// SPDX-License-Identifier: GPL-3.0-or-later
import { execFile, execFileSync } from 'node:child_process';
import { createServer as createHttpServer } from 'node:http';
import * as net from 'node:net';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { isToxtunnelError, type ToxtunnelError } from '../../src/errors.ts';
import { acceptSocks5, type SocksOptions, type SocksRequest, SocksReply } from '../../src/socks/socks5.ts';

const WAIT_MS = 3000;
const hex = (b: Uint8Array) => Buffer.from(b).toString('hex');
const bytes = (h: string) => Buffer.from(h.replace(/\s/g, ''), 'hex');
const replyHex = (code: number) => `05${code.toString(16).padStart(2, '0')}0001` + '00000000' + '0000';

function withTimeout<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms: ${what}`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

type Outcome = { ok: true; request: SocksRequest; socket: net.Socket } | { ok: false; error: ToxtunnelError; socket: net.Socket };

/** A net.Server running acceptSocks5 on every connection; outcomes are queued in connection order. */
async function socksServer(options?: SocksOptions) {
  const outcomes: Outcome[] = [];
  const waiters: (() => void)[] = [];
  const sockets = new Set<net.Socket>();
  const server = net.createServer({ pauseOnConnect: true, allowHalfOpen: true }, (socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    acceptSocks5(socket, options).then(
      (request) => outcomes.push({ ok: true, request, socket }),
      (error: ToxtunnelError) => outcomes.push({ ok: false, error, socket }),
    ).finally(() => waiters.splice(0).forEach((wake) => wake()));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as net.AddressInfo).port;
  let taken = 0;
  return {
    port,
    async next(): Promise<Outcome> {
      const wait = async () => {
        while (outcomes.length <= taken) await new Promise<void>((wake) => waiters.push(wake));
        return outcomes[taken++]!;
      };
      return withTimeout(wait(), WAIT_MS, 'SOCKS handshake outcome');
    },
    async accepted(): Promise<{ request: SocksRequest; socket: net.Socket }> {
      const o = await this.next();
      if (!o.ok) throw new Error(`handshake failed unexpectedly: ${o.error.code} ${o.error.message}`);
      return o;
    },
    async rejected(code: string): Promise<ToxtunnelError> {
      const o = await this.next();
      assert.not.ok(o.ok, `expected ${code}, but the handshake succeeded`);
      if (o.ok) throw new Error('unreachable');
      assert.ok(isToxtunnelError(o.error), `not a ToxtunnelError: ${String(o.error)}`);
      assert.is(o.error.code, code, o.error.message);
      return o.error;
    },
    async close() {
      for (const s of sockets) s.destroy();
      await withTimeout(new Promise<void>((resolve) => server.close(() => resolve())), WAIT_MS, 'server close');
    },
  };
}

/** A hand-written SOCKS client: raw bytes out, everything received kept in one buffer. */
class Client {
  private received = Buffer.alloc(0);
  private ended = false;
  private closed = false;
  private wake: (() => void)[] = [];
  private constructor(readonly socket: net.Socket) {
    socket.on('data', (d: Buffer) => {
      this.received = Buffer.concat([this.received, d]);
      this.notify();
    });
    socket.on('end', () => {
      this.ended = true;
      this.notify();
    });
    socket.on('close', () => {
      this.closed = true;
      this.notify();
    });
    socket.on('error', () => {});
  }
  private notify() {
    this.wake.splice(0).forEach((w) => w());
  }
  private async until(done: () => boolean, what: string) {
    const wait = async () => {
      while (!done()) await new Promise<void>((w) => this.wake.push(w));
    };
    await withTimeout(wait(), WAIT_MS, what);
  }
  static async connect(port: number): Promise<Client> {
    const socket = net.connect(port, '127.0.0.1');
    await withTimeout(new Promise<void>((resolve, reject) => socket.once('connect', resolve).once('error', reject)), WAIT_MS, 'client connect');
    return new Client(socket);
  }
  send(h: string | Buffer) {
    this.socket.write(typeof h === 'string' ? bytes(h) : h);
  }
  /** Exactly the next n bytes, as hex. */
  async read(n: number): Promise<string> {
    await this.until(() => this.received.length >= n || this.ended || this.closed, `${n} bytes from the server`);
    if (this.received.length < n) throw new Error(`server closed after ${hex(this.received)}, expected ${n} bytes`);
    const out = this.received.subarray(0, n);
    this.received = this.received.subarray(n);
    return hex(out);
  }
  /** Everything until the server ends the connection, as hex. */
  async readToEnd(): Promise<string> {
    await this.until(() => this.ended || this.closed, 'the server to close the connection');
    const out = hex(this.received);
    this.received = Buffer.alloc(0);
    return out;
  }
  destroy() {
    this.socket.destroy();
  }
}

/** Reads `n` bytes from a socket handed over by acceptSocks5 (which leaves it paused). */
function readFromHandedOver(socket: net.Socket, n: number): Promise<string> {
  return withTimeout(
    new Promise<string>((resolve, reject) => {
      let got = Buffer.alloc(0);
      socket.on('error', reject);
      socket.on('data', (d: Buffer) => {
        got = Buffer.concat([got, d]);
        if (got.length >= n) resolve(got.toString('latin1'));
      });
      socket.resume();
    }),
    WAIT_MS,
    `${n} bytes on the server side`,
  );
}

const domainRequest = (name: string, port: number) =>
  '050100 03' + Buffer.from([name.length]).toString('hex') + Buffer.from(name).toString('hex') + port.toString(16).padStart(4, '0');

test('no auth, CONNECT by domain name, sent one byte at a time', async () => {
  const server = await socksServer();
  const client = await Client.connect(server.port);
  try {
    for (const byte of bytes('050100')) {
      client.send(Buffer.from([byte]));
      await new Promise((r) => setTimeout(r, 2));
    }
    assert.is(await client.read(2), '0500');
    for (const byte of bytes(domainRequest('example.test', 443))) {
      client.send(Buffer.from([byte]));
      await new Promise((r) => setTimeout(r, 2));
    }
    const { request, socket } = await server.accepted();
    assert.is(request.host, 'example.test');
    assert.is(request.port, 443);
    assert.is(socket.listenerCount('data'), 0, 'no data listener left behind');
    assert.is(socket.listenerCount('error'), 0, 'no error listener left behind');
    assert.is(socket.readableFlowing, false, 'handed over paused');
    request.reply(SocksReply.SUCCEEDED);
    assert.is(await client.read(10), '05000001' + '00000000' + '0000');
    assert.throws(() => request.reply(0), /twice/);
  } finally {
    client.destroy();
    await server.close();
  }
});

test('no auth, CONNECT by IPv4, greeting and request in one write', async () => {
  const server = await socksServer();
  const client = await Client.connect(server.port);
  try {
    client.send('050100' + '05010001 7f000001 0016');
    assert.is(await client.read(2), '0500');
    const { request } = await server.accepted();
    assert.is(request.host, '127.0.0.1');
    assert.is(request.port, 22);
    request.reply(0);
    assert.is(await client.read(10), replyHex(0));
  } finally {
    client.destroy();
    await server.close();
  }
});

test('no auth, CONNECT by IPv6: canonical text without brackets', async () => {
  const server = await socksServer();
  const cases: [string, string][] = [
    ['00000000000000000000000000000001', '::1'],
    ['20010db8000000000000000000000001', '2001:db8::1'],
    ['fe800000000000000202b3fffe1e8329', 'fe80::202:b3ff:fe1e:8329'],
  ];
  try {
    for (const [addr, text] of cases) {
      const client = await Client.connect(server.port);
      try {
        client.send('050100');
        assert.is(await client.read(2), '0500');
        client.send('05010004' + addr + 'ffff');
        const { request } = await server.accepted();
        assert.is(request.host, text);
        assert.is(request.port, 65535);
        request.reply(0);
        assert.is(await client.read(10), replyHex(0));
      } finally {
        client.destroy();
      }
    }
  } finally {
    await server.close();
  }
});

test('data pipelined right after the CONNECT request is kept for the caller', async () => {
  const server = await socksServer();
  const client = await Client.connect(server.port);
  try {
    client.send('050100');
    assert.is(await client.read(2), '0500');
    const payload = 'GET / HTTP/1.1\r\nHost: x\r\n\r\n';
    // One write: request and first data arrive in the same chunk.
    client.send(Buffer.concat([bytes(domainRequest('x', 80)), Buffer.from(payload)]));
    const { request, socket } = await server.accepted();
    assert.is(request.host, 'x');
    assert.is(request.port, 80);
    assert.is(socket.readableFlowing, false, 'handed over paused');
    // The caller "connects upstream" first, then replies, then starts reading.
    await new Promise((r) => setTimeout(r, 50));
    request.reply(0);
    assert.is(await client.read(10), replyHex(0));
    assert.is(await readFromHandedOver(socket, payload.length), payload);
    // And the tunnel carries later data too.
    client.send(Buffer.from('more'));
    const more = await withTimeout(new Promise<string>((r) => socket.once('data', (d: Buffer) => r(d.toString()))), WAIT_MS, 'later data');
    assert.is(more, 'more');
  } finally {
    client.destroy();
    await server.close();
  }
});

test('username/password: right credentials pass, wrong ones get status 1 and are closed', async () => {
  const server = await socksServer({ credentials: { username: 'alice', password: 's3cret' } });
  const auth = (user: string, pass: string) =>
    Buffer.concat([Buffer.from([1, user.length]), Buffer.from(user), Buffer.from([pass.length]), Buffer.from(pass)]);
  try {
    const good = await Client.connect(server.port);
    try {
      good.send('05020002'); // offers no-auth and username/password
      assert.is(await good.read(2), '0502');
      good.send(auth('alice', 's3cret'));
      assert.is(await good.read(2), '0100');
      good.send(domainRequest('example.test', 8080));
      const { request } = await server.accepted();
      assert.is(request.host, 'example.test');
      assert.is(request.port, 8080);
    } finally {
      good.destroy();
    }
    // Wrong password (same length, shorter, longer), wrong username, empty both.
    for (const [user, pass] of [['alice', 's3creT'], ['alice', 'x'], ['alice', 's3cret-and-more'], ['bob', 's3cret'], ['', '']] as const) {
      const bad = await Client.connect(server.port);
      try {
        bad.send('050102');
        assert.is(await bad.read(2), '0502');
        bad.send(auth(user, pass));
        assert.is(await bad.readToEnd(), '0101', `${user}:${pass}`);
        const error = await server.rejected('SOCKS_AUTH_FAILED');
        assert.match(error.message, /authentication failed/);
        assert.not.ok(error.message.includes('s3cret'), 'configured password leaked in the message');
        if (pass) assert.not.ok(error.message.includes(pass), 'offered password leaked in the message');
        assert.not.ok(JSON.stringify(error.details).includes('s3cret'), 'password leaked in the details');
      } finally {
        bad.destroy();
      }
    }
  } finally {
    await server.close();
  }
});

test('no acceptable method: 0xFF and close', async () => {
  const withAuth = await socksServer({ credentials: { username: 'u', password: 'p' } });
  const noAuth = await socksServer();
  try {
    const c1 = await Client.connect(withAuth.port);
    c1.send('050100'); // only "no authentication", but credentials are required
    assert.is(await c1.readToEnd(), '05ff');
    assert.match((await withAuth.rejected('SOCKS_AUTH_FAILED')).message, /requires username\/password/);
    c1.destroy();

    const c2 = await Client.connect(noAuth.port);
    c2.send('05020102'); // GSSAPI and username/password, but none are configured
    assert.is(await c2.readToEnd(), '05ff');
    assert.match((await noAuth.rejected('SOCKS_UNSUPPORTED')).message, /GSSAPI, username\/password/);
    c2.destroy();
  } finally {
    await withAuth.close();
    await noAuth.close();
  }
});

test('SOCKS4 greeting rejected with a SOCKS4 failure; HTTP on the port closed without reply', async () => {
  const server = await socksServer();
  try {
    const c4 = await Client.connect(server.port);
    c4.send('04010050 7f000001 00');
    assert.is(await c4.readToEnd(), '005b000000000000');
    assert.match((await server.rejected('SOCKS_UNSUPPORTED')).message, /SOCKS version 4 is not supported, only 5/);
    c4.destroy();

    const http = await Client.connect(server.port);
    http.send(Buffer.from('GET http://example.test/ HTTP/1.1\r\n\r\n'));
    assert.is(await http.readToEnd(), '');
    assert.match((await server.rejected('SOCKS_PROTOCOL')).message, /HTTP proxy/);
    http.destroy();
  } finally {
    await server.close();
  }
});

test('BIND and UDP ASSOCIATE get 0x07, an unknown address type 0x08, port 0 0x01', async () => {
  const server = await socksServer();
  const cases: [string, number, string, RegExp][] = [
    ['05020001 7f000001 0016', SocksReply.COMMAND_NOT_SUPPORTED, 'SOCKS_UNSUPPORTED', /BIND is not supported, only CONNECT/],
    ['05030001 7f000001 0016', SocksReply.COMMAND_NOT_SUPPORTED, 'SOCKS_UNSUPPORTED', /UDP ASSOCIATE/],
    ['05010005 7f000001 0016', SocksReply.ADDRESS_TYPE_NOT_SUPPORTED, 'SOCKS_UNSUPPORTED', /address type 0x05/],
    ['05010001 7f000001 0000', SocksReply.GENERAL_FAILURE, 'SOCKS_PROTOCOL', /port 0/],
    ['05010003 00 0050', SocksReply.GENERAL_FAILURE, 'SOCKS_PROTOCOL', /empty domain/],
    ['05010003 03 610062 0050', SocksReply.GENERAL_FAILURE, 'SOCKS_PROTOCOL', /control characters/],
  ];
  try {
    for (const [request, code, errorCode, message] of cases) {
      const client = await Client.connect(server.port);
      try {
        client.send('050100');
        assert.is(await client.read(2), '0500');
        client.send(request);
        assert.is(await client.readToEnd(), replyHex(code), request);
        assert.match((await server.rejected(errorCode)).message, message);
      } finally {
        client.destroy();
      }
    }
  } finally {
    await server.close();
  }
});

test('handshake timeout closes the socket and rejects SOCKS_TIMEOUT', async () => {
  const server = await socksServer({ handshakeTimeoutMs: 200 });
  const client = await Client.connect(server.port);
  try {
    const started = Date.now();
    client.send('0502'); // greeting announces 2 methods, sends none
    const error = await server.rejected('SOCKS_TIMEOUT');
    const elapsed = Date.now() - started;
    assert.ok(elapsed >= 150 && elapsed < 2000, `timed out after ${elapsed} ms`);
    assert.match(error.message, /not completed within 200 ms/);
    assert.is(await client.readToEnd(), '');
  } finally {
    client.destroy();
    await server.close();
  }
});

test('the client closing mid-handshake rejects SOCKS_PROTOCOL', async () => {
  const server = await socksServer();
  const client = await Client.connect(server.port);
  try {
    client.send('050100');
    assert.is(await client.read(2), '0500');
    client.socket.end(bytes('050100')); // half a request, then FIN
    assert.match((await server.rejected('SOCKS_PROTOCOL')).message, /closed the connection during the SOCKS5 handshake/);
  } finally {
    client.destroy();
    await server.close();
  }
});

test('reply(CONNECTION_REFUSED) writes the failure reply and ends the socket', async () => {
  const server = await socksServer();
  const client = await Client.connect(server.port);
  try {
    client.send('050100');
    assert.is(await client.read(2), '0500');
    client.send('05010001 7f000001 0017');
    const { request } = await server.accepted();
    request.reply(SocksReply.CONNECTION_REFUSED);
    assert.is(await client.readToEnd(), '05050001' + '00000000' + '0000');
    assert.throws(() => request.reply(256), RangeError);
  } finally {
    client.destroy();
    await server.close();
  }
});

const hasCurl = (() => {
  try {
    execFileSync('sh', ['-c', 'command -v curl'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
})();

(hasCurl ? test : test.skip)('curl --socks5-hostname goes through (no auth and username/password)', async () => {
  const http = createHttpServer((req, res) => res.end(`hello from upstream ${req.url}`));
  await new Promise<void>((resolve) => http.listen(0, '127.0.0.1', resolve));
  const httpPort = (http.address() as net.AddressInfo).port;
  const seen: string[] = [];
  const sockets = new Set<net.Socket>();
  const makeProxy = (options: SocksOptions) =>
    net.createServer({ pauseOnConnect: true, allowHalfOpen: true }, (socket) => {
      sockets.add(socket);
      acceptSocks5(socket, options).then(
        (request) => {
          // The requested host is not resolvable; record it and go to the local HTTP server.
          seen.push(`${request.host}:${request.port}`);
          socket.on('error', () => {});
          const upstream = net.connect(httpPort, '127.0.0.1');
          sockets.add(upstream);
          upstream.on('error', () => request.reply(SocksReply.CONNECTION_REFUSED));
          upstream.once('connect', () => {
            request.reply(SocksReply.SUCCEEDED);
            socket.pipe(upstream);
            upstream.pipe(socket);
          });
        },
        (error: ToxtunnelError) => seen.push(`error ${error.code}: ${error.message}`),
      );
    });
  const open = makeProxy({});
  const locked = makeProxy({ credentials: { username: 'alice', password: 'pa:ss' } });
  for (const s of [open, locked]) await new Promise<void>((resolve) => s.listen(0, '127.0.0.1', resolve));
  const portOf = (s: net.Server) => (s.address() as net.AddressInfo).port;
  // curl must not pick up a proxy from the environment.
  const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => !/_proxy$/i.test(k)));
  const curl = (args: string[]) =>
    withTimeout(
      new Promise<string>((resolve, reject) =>
        execFile('curl', ['-sS', '--max-time', '5', ...args], { env, timeout: 8000 }, (err, stdout, stderr) =>
          err ? reject(new Error(`curl failed: ${err.message} ${stderr}`)) : resolve(stdout),
        ),
      ),
      10_000,
      'curl',
    );
  try {
    const url = `http://example.test:${httpPort}/path`;
    assert.is(await curl(['--socks5-hostname', `127.0.0.1:${portOf(open)}`, url]), 'hello from upstream /path');
    assert.is(await curl(['--socks5-hostname', `127.0.0.1:${portOf(locked)}`, '--proxy-user', 'alice:pa:ss', url]), 'hello from upstream /path');
    let refused = '';
    try {
      await curl(['--socks5-hostname', `127.0.0.1:${portOf(locked)}`, '--proxy-user', 'alice:wrong', url]);
    } catch (e) {
      refused = String(e);
    }
    assert.ok(refused.includes('curl failed'), 'curl with a wrong password must fail');
    assert.equal(seen.slice(0, 2), [`example.test:${httpPort}`, `example.test:${httpPort}`]);
    assert.match(seen[2] ?? '', /SOCKS_AUTH_FAILED/);
  } finally {
    for (const s of sockets) s.destroy();
    http.closeAllConnections();
    for (const s of [open, locked, http]) {
      await withTimeout(new Promise<void>((resolve) => s.close(() => resolve())), WAIT_MS, 'close');
    }
  }
});

test.run();
