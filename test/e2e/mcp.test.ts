// SPDX-License-Identifier: GPL-3.0-or-later
// `toxtunnel mcp` (docs/mcp.md) driven by the official MCP SDK's own client over stdio, against
// a real toxtunnel server process and a native tox-bootstrapd on loopback. The server's rules
// file allows the client one echo target and one reverse listen port, nothing else.
import { type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { runtimeCommand } from '../helpers/peer.ts';
import { makeToxId } from '../../src/tox/tox-id.ts';
import { type Bootstrapd, startBootstrapd } from '../helpers/bootstrapd.ts';
import { CLI, type CliProcess, type Service, echo, echoRoundTrip, runCli, runCliSync, sha256, startService, testData } from '../helpers/tunnel-env.ts';

const P = { echo: 29601, denied: 29602, forward: 29603, reverseOnServer: 29604, bootstrapUdp: 29605, bootstrapTcp: 29606 };
const MB = 1_000_000;
let dir: string;
let bootstrapd: Bootstrapd;
let service: Service;
let server: CliProcess;
let transport: StdioClientTransport;
let mcp: Client;
let clientToxId: string;
let mcpLog = '';

type Result = { isError?: boolean; content: Array<{ type: string; text: string }>; structuredContent?: Record<string, unknown> };
const call = async (name: string, args: Record<string, unknown> = {}) => (await mcp.callTool({ name, arguments: args })) as Result;
const data = (r: Result) => {
  assert.not.ok(r.isError, `unexpected tool error: ${r.content[0]?.text}`);
  // The text content is the same JSON as the structured content (for hosts that show only text).
  assert.equal(JSON.parse(r.content[0]!.text), r.structuredContent);
  return r.structuredContent as Record<string, any>;
};

test.before(async () => {
  try {
    dir = mkdtempSync(join(tmpdir(), 'toxtunnel-mcp-'));
    bootstrapd = await startBootstrapd(P.bootstrapUdp, P.bootstrapTcp);
    service = await startService(P.echo, echo);
    clientToxId = /[0-9A-F]{76}/.exec(runCliSync(['print-id', '-d', join(dir, 'client-data')]).stdout)![0];
    const serverId = /[0-9A-F]{76}/.exec(runCliSync(['print-id', '-d', join(dir, 'server-data')]).stdout)![0];
    const boot = `  bootstrap_mode: none\n  bootstrap_nodes:\n    - {address: 127.0.0.1, port: ${P.bootstrapUdp}, public_key: ${bootstrapd.publicKey}}\n`;
    const rules = join(dir, 'rules.yaml');
    writeFileSync(
      rules,
      `rules:\n  - friend_pk: ${clientToxId.slice(0, 64)}\n    allow:\n      - host: 127.0.0.1\n        ports: [${P.echo}]\n    listen:\n      - bind: 127.0.0.1\n        ports: [${P.reverseOnServer}]\n`,
    );
    writeFileSync(join(dir, 'server.yaml'), `mode: server\ndata_dir: ${join(dir, 'server-data')}\ntox:\n  udp_enabled: true\n${boot}server:\n  rules_file: ${rules}\n`);
    server = runCli(['-c', join(dir, 'server.yaml')]);
    await server.waitForOutput(/Tox ID: [0-9A-F]{76}/, 30_000, 'server start');
    // No forwards in the client config: the tools make them.
    writeFileSync(join(dir, 'client.yaml'), `mode: client\ndata_dir: ${join(dir, 'client-data')}\ntox:\n  udp_enabled: true\n${boot}client:\n  server_id: ${serverId}\n`);
    transport = new StdioClientTransport({
      command: process.execPath,
      args: [CLI, 'mcp', '-c', join(dir, 'client.yaml')],
      env: { ...(process.env as Record<string, string>), NO_COLOR: '1' },
      stderr: 'pipe',
    });
    transport.stderr!.on('data', (d: Buffer) => (mcpLog += d.toString()));
    mcp = new Client({ name: 'toxtunnel-test', version: '1' });
    await mcp.connect(transport);
  } catch (error) {
    console.error('setup failed:', error, '\nmcp stderr:', mcpLog, '\nserver:', server?.output);
    throw error;
  }
});

test.after(async () => {
  await transport?.close().catch(() => {});
  server?.signal('SIGTERM');
  await server?.exited(10_000).catch(() => server.kill());
  bootstrapd?.stop();
  await service?.close();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

test('tools/list: the six tools, each with an object input schema and a description', async () => {
  const { tools } = await mcp.listTools();
  assert.equal(tools.map((t) => t.name).sort(), ['print_id', 'server_status', 'tunnel_close', 'tunnel_create', 'tunnel_list', 'tunnel_stats']);
  for (const tool of tools) {
    assert.is(tool.inputSchema.type, 'object', tool.name);
    assert.ok((tool.description ?? '').length > 40, `${tool.name} is described`);
  }
  const create = tools.find((t) => t.name === 'tunnel_create')!;
  assert.equal(create.inputSchema.required, ['type']);
  assert.equal((create.inputSchema.properties as any).type.enum, ['local', 'remote', 'dynamic']);
});

test('print_id gives the same Tox ID as `toxtunnel print-id`', async () => {
  const id = data(await call('print_id'));
  assert.is(id.tox_id, clientToxId);
  assert.is(id.public_key, clientToxId.slice(0, 64));
});

test('server_status: the server comes online over UDP, with a measured RTT', async () => {
  let status: Record<string, any> = {};
  const deadline = Date.now() + 90_000;
  while (Date.now() < deadline) {
    status = data(await call('server_status'));
    if (status.online) break;
    await new Promise((r) => setTimeout(r, 500));
  }
  assert.is(status.online, true, JSON.stringify(status));
  assert.is(status.server_connection, 'udp');
  assert.is(status.state, 'active');
  assert.is(typeof status.rtt_ms, 'number');
  assert.ok(status.rtt_ms >= 0 && status.rtt_ms < 3000, `rtt ${status.rtt_ms}`);
  assert.equal(status.extensions, ['half-close', 'reverse']);
  assert.is(status.proxy, null);
});

let localId = '';
test('tunnel_create local, 1 MB through it byte-exact, then tunnel_list and tunnel_stats count it', async () => {
  const created = data(await call('tunnel_create', { type: 'local', local_port: P.forward, remote_host: '127.0.0.1', remote_port: P.echo }));
  localId = created.id;
  assert.match(localId, /^t\d+$/);
  assert.is(created.state, 'active');
  assert.is(created.local_address, `127.0.0.1:${P.forward}`);
  assert.is(created.target, `127.0.0.1:${P.echo}`);
  const payload = testData(MB, 13);
  assert.is(sha256(await echoRoundTrip(P.forward, payload, 60_000)), sha256(payload));

  const listed = data(await call('tunnel_list')).tunnels as Array<Record<string, any>>;
  const mine = listed.find((t) => t.id === localId)!;
  assert.ok(mine, JSON.stringify(listed));
  assert.is(mine.connections_total, 1);
  assert.is(mine.bytes_out, MB);
  assert.is(mine.bytes_in, MB);
  const one = data(await call('tunnel_stats', { id: localId })).tunnel;
  assert.is(one.bytes_out, MB);
  const totals = data(await call('tunnel_stats'));
  assert.ok(totals.bytes_out >= MB && totals.bytes_in >= MB, JSON.stringify(totals));
  assert.is(totals.tunnels_open, 1);
});

test('a target the rules deny is a tool error with the server\'s answer, and nothing stays open', async () => {
  const denied = await call('tunnel_create', { type: 'local', local_port: P.denied, remote_host: '127.0.0.1', remote_port: P.denied });
  assert.is(denied.isError, true);
  assert.match(denied.content[0]!.text, new RegExp(`tunnel to 127\\.0\\.0\\.1:${P.denied} failed: Access denied`));
  assert.is(await connectable(P.denied), false, 'its local port was closed again');
  assert.is((data(await call('tunnel_list')).tunnels as unknown[]).length, 1);
});

test('bad arguments come back as tool errors that say what is wrong', async () => {
  const cases: Array<[Record<string, unknown>, RegExp]> = [
    [{ type: 'local', remote_port: 22 }, /tunnel_create: type "local" needs remote_host/],
    [{ type: 'sideways' }, /type must be one of local, remote, dynamic, got "sideways"/],
    [{ type: 'local', remote_host: 'x', remote_port: 70000 }, /remote_port must be 1\.\.65535, got 70000/],
    [{ type: 'dynamic', remote_host: 'x' }, /remote_host does not apply to type "dynamic"/],
    [{ type: 'local', remote_host: 'x', remote_port: 1, server_id: 'ABC' }, /server_id: /],
  ];
  for (const [args, message] of cases) {
    const result = await call('tunnel_create', args);
    assert.is(result.isError, true, JSON.stringify(args));
    assert.match(result.content[0]!.text, message);
  }
  const close = await call('tunnel_close', { id: 't99' });
  assert.is(close.isError, true);
  assert.match(close.content[0]!.text, new RegExp(`no tunnel "t99" \\(open: ${localId}\\)`));
});

test('tunnel_create dynamic: a SOCKS5 client reaches the echo through it', async () => {
  const created = data(await call('tunnel_create', { type: 'dynamic' }));
  const port = Number(/:(\d+)$/.exec(created.local_address)![1]);
  assert.ok(port > 0);
  const payload = testData(200_000, 5);
  assert.is(sha256(await socksEcho(port, P.echo, payload)), sha256(payload));
  assert.is(data(await call('tunnel_stats', { id: created.id })).tunnel.connections_total, 1);
  assert.is(data(await call('tunnel_close', { id: created.id })).closed.state, 'closed');
});

test('tunnel_create remote: the server listens, its connections reach the echo here', async () => {
  const created = data(await call('tunnel_create', { type: 'remote', remote_port: P.reverseOnServer, local_port: P.echo }));
  assert.is(created.state, 'active', JSON.stringify(created));
  const payload = testData(200_000, 9);
  assert.is(sha256(await echoRoundTrip(P.reverseOnServer, payload, 60_000)), sha256(payload));
  data(await call('tunnel_close', { id: created.id }));
  const refused = await call('tunnel_create', { type: 'remote', remote_port: P.reverseOnServer + 100, local_port: P.echo });
  assert.is(refused.isError, true);
  assert.match(refused.content[0]!.text, /reverse tunnel to 127\.0\.0\.1:\d+ refused by the server: /);
});

test('tunnel_close closes the listener; stdin EOF closes everything and exits 0', async () => {
  const closed = data(await call('tunnel_close', { id: localId })).closed;
  assert.is(closed.state, 'closed');
  assert.is(closed.bytes_out, MB, 'final counters');
  assert.is(await connectable(P.forward), false);
  // A tunnel left open, then the host goes away: the stdin EOF path closes it.
  const left = data(await call('tunnel_create', { type: 'local', local_port: P.forward, remote_host: '127.0.0.1', remote_port: P.echo }));
  assert.is(left.state, 'active');
  const child = (transport as unknown as { _process: ChildProcess })._process!;
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  child.stdin!.end();
  const code = await Promise.race([exited, new Promise<string>((r) => setTimeout(() => r('timeout'), 10_000))]);
  assert.is(code, 0, `exit code (log:\n${mcpLog})`);
  assert.match(mcpLog, /toxtunnel mcp: stdin ended: closing every tunnel/);
  assert.is(await connectable(P.forward), false);
});

test('Bun and Deno run it too: initialize, tools/list, print_id, a tool error without a server, exit on EOF', async () => {
  for (const runtime of ['bun', 'deno'] as const) {
    const [command, prefix] = runtimeCommand(runtime, CLI);
    const dataDir = join(dir, `${runtime}-data`);
    // No config: bootstrap_mode none from the environment (no public nodes, no LAN discovery).
    const env = { ...(process.env as Record<string, string>), NO_COLOR: '1', TOXTUNNEL_BOOTSTRAP_MODE: 'none' };
    const other = new StdioClientTransport({ command, args: [...prefix, 'mcp', '-d', dataDir], env, stderr: 'pipe' });
    let log = '';
    other.stderr!.on('data', (d: Buffer) => (log += d.toString()));
    const client = new Client({ name: 'toxtunnel-test', version: '1' });
    try {
      await client.connect(other);
      assert.is((await client.listTools()).tools.length, 6, runtime);
      const id = (await client.callTool({ name: 'print_id', arguments: {} })) as Result;
      assert.is((id.structuredContent as { tox_id: string }).tox_id, /[0-9A-F]{76}/.exec(runCliSync(['print-id', '-d', dataDir]).stdout)![0], runtime);
      const noServer = (await client.callTool({ name: 'server_status', arguments: {} })) as Result;
      assert.is(noServer.isError, true);
      assert.match(noServer.content[0]!.text, /no server yet: give server_id/);
      // A server named by the call (nobody runs it): the tunnel is made and waits for it.
      const absent = makeToxId(new Uint8Array(32).fill(7), 1).text;
      const waiting = (await client.callTool({ name: 'tunnel_create', arguments: { type: 'local', remote_host: '127.0.0.1', remote_port: P.echo, server_id: absent, wait_seconds: 0 } })) as Result;
      assert.not.ok(waiting.isError, waiting.content[0]?.text);
      assert.is((waiting.structuredContent as { state: string }).state, 'waiting for the server');
      assert.match((waiting.structuredContent as { note: string }).note, /the server is not reachable yet/);
      const status = (await client.callTool({ name: 'server_status', arguments: {} })) as Result;
      assert.equal([(status.structuredContent as { online: boolean }).online, (status.structuredContent as { server_id: string }).server_id], [false, absent]);
      const child = (other as unknown as { _process: ChildProcess })._process!;
      const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
      child.stdin!.end();
      assert.is(await Promise.race([exited, new Promise<string>((r) => setTimeout(() => r('timeout'), 10_000))]), 0, `${runtime} exit (log:\n${log})`);
    } finally {
      await other.close().catch(() => {});
    }
  }
});

function connectable(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect(port, '127.0.0.1');
    socket.once('connect', () => (socket.destroy(), resolve(true)));
    socket.once('error', () => resolve(false));
  });
}

/** SOCKS5 CONNECT to 127.0.0.1:target through the proxy on proxyPort, then echo `payload`. */
function socksEcho(proxyPort: number, target: number, payload: Buffer): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const socket = net.connect(proxyPort, '127.0.0.1');
    const timer = setTimeout(() => (socket.destroy(), reject(new Error('SOCKS echo incomplete after 60 s'))), 60_000);
    let stage = 0;
    let buffer = Buffer.alloc(0);
    const chunks: Buffer[] = [];
    let received = 0;
    socket.on('error', (e) => (clearTimeout(timer), reject(e)));
    socket.on('data', (chunk) => {
      if (stage === 2) {
        chunks.push(chunk);
        received += chunk.length;
        if (received >= payload.length) clearTimeout(timer), socket.destroy(), resolve(Buffer.concat(chunks));
        return;
      }
      buffer = Buffer.concat([buffer, chunk]);
      if (stage === 0 && buffer.length >= 2) {
        buffer = buffer.subarray(2);
        stage = 1;
        socket.write(Buffer.from([5, 1, 0, 1, 127, 0, 0, 1, target >> 8, target & 0xff]));
      }
      if (stage === 1 && buffer.length >= 10) {
        if (buffer[1] !== 0) return clearTimeout(timer), socket.destroy(), reject(new Error(`SOCKS reply ${buffer[1]}`));
        stage = 2;
        socket.write(payload);
      }
    });
    socket.write(Buffer.from([5, 1, 0]));
  });
}

test.run();
