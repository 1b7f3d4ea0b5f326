// SPDX-License-Identifier: GPL-3.0-or-later
// Proxy settings (docs/proxy.md): the URL forms curl and tuntox's ALL_PROXY use, where they may
// come from and which wins, and what a proxy rules out (UDP, LAN discovery, names to resolve).
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { resolveConfig } from '../../src/config/config.ts';
import { parseProxyUrl } from '../../src/config/proxy-url.ts';
import { isToxtunnelError } from '../../src/errors.ts';
import { ToxNode } from '../../src/tox/tox-node.ts';

const dir = mkdtempSync(join(tmpdir(), 'toxtunnel-proxy-config-'));
const write = (name: string, text: string) => {
  const path = join(dir, name);
  writeFileSync(path, text);
  return path;
};
const NODE_KEY = 'C'.repeat(64);

function failure(run: () => unknown): { code: string; message: string } {
  try {
    run();
  } catch (error) {
    assert.ok(isToxtunnelError(error), String(error));
    return error as never;
  }
  throw new Error('did not throw');
}

test('proxy URLs: socks5, socks5h and http with host and port; none and empty mean no proxy', () => {
  assert.equal(parseProxyUrl('socks5://127.0.0.1:9050', 'x'), { type: 'socks5', host: '127.0.0.1', port: 9050 });
  assert.equal(parseProxyUrl('socks5h://localhost:1080', 'x'), { type: 'socks5', host: 'localhost', port: 1080 });
  assert.equal(parseProxyUrl('http://proxy.corp:3128/', 'x'), { type: 'http', host: 'proxy.corp', port: 3128 });
  assert.equal(parseProxyUrl('http://10.0.0.1:80', 'x'), { type: 'http', host: '10.0.0.1', port: 80 });
  assert.equal(parseProxyUrl('socks5://[::1]:1080', 'x'), { type: 'socks5', host: '::1', port: 1080 });
  assert.is(parseProxyUrl('none', 'x'), undefined);
  assert.is(parseProxyUrl('  ', 'x'), undefined);
});

test('proxy URLs toxcore cannot use are refused, saying where and why', () => {
  const cases: Array<[string, RegExp]> = [
    ['socks4://127.0.0.1:1080', /--proxy: "socks4:\/\/127\.0\.0\.1:1080": the scheme socks4 is not supported; use socks5:\/\/, socks5h:\/\/ or http:\/\//],
    ['https://127.0.0.1:443', /scheme https is not supported/],
    ['socks5://user:pw@127.0.0.1:1080', /credentials are not supported/],
    ['socks5://127.0.0.1', /the port is missing/],
    ['http://127.0.0.1:3128/path', /nothing after the port/],
    ['127.0.0.1:1080', /not a proxy URL|scheme 127\.0\.0\.1 is not supported/],
  ];
  for (const [text, message] of cases) {
    const error = failure(() => parseProxyUrl(text, '--proxy'));
    assert.is(error.code, 'CONFIG_PROXY_INVALID', text);
    assert.match(error.message, message, text);
  }
});

const base = (extra = '') =>
  `mode: server\ndata_dir: ./d\ntox:\n  udp_enabled: true\n  bootstrap_mode: none\n  bootstrap_nodes:\n    - {address: 127.0.0.1, port: 33445, public_key: ${NODE_KEY}}\n${extra}`;

test('--proxy beats tox.proxy beats ALL_PROXY (then all_proxy); a proxy turns UDP off', () => {
  const plain = write('plain.yaml', base());
  const withProxy = write('with.yaml', base('  proxy: http://127.0.0.1:3128\n'));
  const optOut = write('none.yaml', base('  proxy: none\n'));
  const env = { ALL_PROXY: 'socks5://127.0.0.1:9050', all_proxy: 'http://127.0.0.1:1' };
  assert.equal(resolveConfig({ config: plain }, {}).proxy, undefined);
  assert.is(resolveConfig({ config: plain }, {}).udp, true);
  assert.equal(resolveConfig({ config: plain }, env).proxy, { type: 'socks5', host: '127.0.0.1', port: 9050 });
  assert.equal(resolveConfig({ config: plain }, { all_proxy: 'http://127.0.0.1:8080' }).proxy, { type: 'http', host: '127.0.0.1', port: 8080 });
  assert.is(resolveConfig({ config: plain }, env).udp, false);
  assert.equal(resolveConfig({ config: withProxy }, env).proxy, { type: 'http', host: '127.0.0.1', port: 3128 });
  assert.equal(resolveConfig({ config: optOut }, env).proxy, undefined);
  assert.equal(resolveConfig({ config: withProxy, proxy: 'socks5://127.0.0.2:1' }, env).proxy, { type: 'socks5', host: '127.0.0.2', port: 1 });
  assert.equal(resolveConfig({ config: withProxy, proxy: 'none' }, env).proxy, undefined);
  // TOXTUNNEL_UDP_ENABLED=true cannot bring UDP back around the proxy.
  assert.is(resolveConfig({ config: withProxy }, { TOXTUNNEL_UDP_ENABLED: 'true' }).udp, false);
  assert.match(failure(() => resolveConfig({ config: plain }, { ALL_PROXY: 'ftp://x:1' })).message, /^ALL_PROXY: "ftp:\/\/x:1": the scheme ftp/);
});

test('with a proxy: bootstrap names and LAN discovery are refused with the key to change', () => {
  const named = write('named.yaml', base().replace('127.0.0.1', 'nodes.example.org'));
  const error = failure(() => resolveConfig({ config: named, proxy: 'socks5://127.0.0.1:9050' }, {}));
  assert.is(error.code, 'CONFIG_INVALID');
  assert.match(error.message, /tox\.bootstrap_nodes\[0\]\.address: "nodes\.example\.org" is a name; with a proxy, names are not resolved/);
  // Without a proxy the same file is fine (names are resolved when the node bootstraps).
  assert.is(resolveConfig({ config: named }, {}).bootstrapNodes[0]!.host, 'nodes.example.org');
  const lan = write('lan.yaml', base().replace('bootstrap_mode: none', 'bootstrap_mode: lan'));
  assert.match(failure(() => resolveConfig({ config: lan, proxy: 'http://127.0.0.1:3128' }, {})).message, /tox\.bootstrap_mode: lan sends LAN broadcasts around the proxy/);
});

test('ToxNode: a proxy with UDP or LAN discovery on is refused; names are refused, not resolved', async () => {
  const proxy = { type: 'socks5' as const, host: '127.0.0.1', port: 9 };
  const refused = async (options: Parameters<typeof ToxNode.create>[0], message: RegExp) => {
    const error = await ToxNode.create(options).then(
      (node) => (node.close(), undefined),
      (e: unknown) => e,
    );
    assert.ok(isToxtunnelError(error, 'TOX_BAD_OPTION'), String(error));
    assert.match((error as Error).message, message);
  };
  await refused({ proxy, udp: true }, /a proxy needs UDP off: UDP traffic would go around the proxy/);
  await refused({ proxy, localDiscovery: true }, /a proxy needs LAN discovery off/);
  await refused({ proxy: { ...proxy, port: 0 } }, /proxy port 0 is not a port/);
  const node = await ToxNode.create({ proxy });
  try {
    assert.is(node.udpPort, undefined, 'UDP is off by default with a proxy');
    const error = await node.bootstrap('nodes.example.org', 33445, NODE_KEY).then(
      () => undefined,
      (e: unknown) => e,
    );
    assert.ok(isToxtunnelError(error, 'TOX_PROXY_NAME'), String(error));
    await node.bootstrap('127.0.0.1', 33445, NODE_KEY);
  } finally {
    node.close();
  }
});

test.run();
