// SPDX-License-Identifier: GPL-3.0-or-later
// Pure logic of the extensions: byte layouts of the extension frames, the keepalive's
// verdicts (fake clock), SOCKS reply codes for tunnel errors, -R/-D specs, listen rules and
// expiry, and the config keys that carry them.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { parseReverseSpec, parseSocksSpec } from '../../src/config/forward-spec.ts';
import { parseRules } from '../../src/config/rules.ts';
import { listenAddress } from '../../src/app/reverse-listeners.ts';
import { Capability, decodePacket, encodePacket, type Frame } from '../../src/protocol/frame.ts';
import { socksReplyFor } from '../../src/socks/reply-codes.ts';
import { PeerLiveness } from '../../src/tunnel/liveness.ts';

const hex = (b: Uint8Array) => Buffer.from(b).toString('hex');
const bytes = (h: string) => new Uint8Array(Buffer.from(h.replace(/\s/g, ''), 'hex'));

test('extension frames: byte layouts as docs/protocol.md gives them, and round trips', () => {
  assert.is(hex(encodePacket({ kind: 'hello', version: 1, capabilities: Capability.HALF_CLOSE | Capability.REVERSE })), 'a020' + '0000' + '0005' + '01' + '00000003');
  assert.is(hex(encodePacket({ kind: 'fin', tunnelId: 7 })), 'a021' + '0007' + '0000');
  assert.is(hex(encodePacket({ kind: 'reverse-listen', requestId: 1, port: 8080, bind: '' })), 'a022' + '0001' + '0003' + '1f90' + '00');
  assert.is(hex(encodePacket({ kind: 'reverse-listen', requestId: 2, port: 80, bind: '::1' })), 'a022' + '0002' + '0006' + '0050' + '03' + Buffer.from('::1').toString('hex'));
  assert.is(hex(encodePacket({ kind: 'reverse-result', requestId: 1, status: 0, port: 8080, message: 'ok' })), 'a023' + '0001' + '0005' + '00' + '1f90' + '6f6b');
  assert.is(hex(encodePacket({ kind: 'reverse-open', tunnelId: 0x8000, requestId: 1 })), 'a024' + '8000' + '0002' + '0001');
  assert.is(hex(encodePacket({ kind: 'reverse-cancel', requestId: 3 })), 'a025' + '0003' + '0000');
  const frames: Frame[] = [
    { kind: 'hello', version: 1, capabilities: 0xffffffff },
    { kind: 'fin', tunnelId: 65535 },
    { kind: 'reverse-listen', requestId: 9, port: 65535, bind: '0.0.0.0' },
    { kind: 'reverse-result', requestId: 9, status: 2, port: 0, message: 'Port 127.0.0.1:80 is in use on the server' },
    { kind: 'reverse-open', tunnelId: 0xffff, requestId: 9 },
    { kind: 'reverse-cancel', requestId: 9 },
  ];
  for (const frame of frames) {
    const decoded = decodePacket(encodePacket(frame));
    assert.ok(decoded.ok, frame.kind);
    if (decoded.ok) assert.equal(decoded.frame, frame);
  }
});

test('extension frames: malformed ones are rejected or dropped, later HELLO versions tolerated', () => {
  const later = decodePacket(bytes('a0 20 0000 0007 02 00000001 ffff'));
  assert.ok(later.ok && later.frame.kind === 'hello' && later.frame.version === 2 && later.frame.capabilities === 1);
  assert.is((decodePacket(bytes('a0 20 0000 0002 0100')) as { action: string }).action, 'drop', 'short HELLO');
  assert.is((decodePacket(bytes('a0 21 0000 0000')) as { action: string }).action, 'drop', 'FIN on tunnel 0');
  assert.match((decodePacket(bytes('a0 22 0001 0003 0000 00')) as { reason: string }).reason, /port 0/);
  assert.match((decodePacket(bytes('a0 22 0001 0004 0050 05 61')) as { reason: string }).reason, /overruns/);
  assert.match((decodePacket(bytes('a0 22 0001 0005 0050 02 6100')) as { reason: string }).reason, /control/);
  assert.match((decodePacket(bytes('a0 24 8000 0002 0000')) as { reason: string }).reason, /request id 0/);
});

test('keepalive: ping after quiet, unresponsive after the dead time, probes back off, any packet revives', () => {
  const pings: number[] = [];
  const changes: string[] = [];
  const live = new PeerLiveness(() => pings.push(now), (state) => changes.push(state), { pingAfterMs: 2000, deadAfterMs: 8000, firstProbeMs: 1000, maxProbeMs: 4000 });
  let now = 1_000_000;
  live.start(now);
  live.stop(); // drive ticks by hand
  live.state = 'alive';
  const step = (to: number) => {
    for (; now < to; now += 100) live.tick(now);
  };
  step(1_001_900);
  assert.is(pings.length, 0, 'no ping while the peer was heard recently');
  step(1_002_100);
  assert.is(pings.length, 1, 'a ping after 2 s of silence');
  live.heard(now);
  step(now + 1500);
  assert.is(pings.length, 1);
  const heardAt = now - 1500;
  step(heardAt + 8100);
  assert.equal(changes, ['unresponsive'], 'declared unresponsive after 8 s of silence');
  const before = pings.length;
  step(now + 12_000);
  const probes = pings.slice(before);
  const gaps = probes.slice(1).map((t, i) => t - probes[i]!);
  assert.ok(gaps.length >= 2 && gaps[0]! < gaps[gaps.length - 1]!, `probe gaps grow: ${gaps.join(', ')}`);
  assert.ok(Math.max(...gaps) <= 4100, 'capped');
  live.heard(now);
  assert.equal(changes, ['unresponsive', 'alive']);
});

test('SOCKS replies follow the server\'s error, never a false success', () => {
  assert.is(socksReplyFor('Access denied', 1), 0x02);
  assert.is(socksReplyFor('Tunnel not found', 1), 0x01);
  assert.is(socksReplyFor('DNS resolution failed: nowhere.invalid: ENOTFOUND', 2), 0x04);
  assert.is(socksReplyFor('TCP connect failed: 127.0.0.1:1: ECONNREFUSED', 3), 0x05);
  assert.is(socksReplyFor('TCP connect failed: 10.0.0.1:1: EHOSTUNREACH', 3), 0x04);
  assert.is(socksReplyFor('TCP connect failed: 10.0.0.1:1: ENETUNREACH', 3), 0x03);
  assert.is(socksReplyFor('TCP connect failed: 10.0.0.1:1: ETIMEDOUT', 3), 0x06);
  assert.is(socksReplyFor('Tunnel limit exceeded', 3), 0x01);
  assert.is(socksReplyFor('the server did not come online within 60 s', undefined), 0x01);
});

test('-R and -D specs, ssh style', () => {
  assert.equal(parseReverseSpec('8080:127.0.0.1:80'), { remotePort: 8080, localHost: '127.0.0.1', localPort: 80 });
  assert.equal(parseReverseSpec('0.0.0.0:8080:[::1]:80'), { remoteBind: '0.0.0.0', remotePort: 8080, localHost: '::1', localPort: 80 });
  assert.throws(() => parseReverseSpec('8080:80'), /expected \[bind_address:\]port:host:hostport/);
  assert.throws(() => parseReverseSpec('0:127.0.0.1:80'), /server port/);
  assert.equal(parseSocksSpec('1080'), { port: 1080 });
  assert.equal(parseSocksSpec('[::1]:1080'), { bind: '::1', port: 1080 });
  assert.throws(() => parseSocksSpec('a:b:c'), /expected \[bind_address:\]port/);
  assert.throws(() => parseSocksSpec('99999'), /SOCKS port/);
});

test('rules: listen entries, admits, and expiry', () => {
  const a = 'A'.repeat(64);
  const b = 'B'.repeat(64);
  const rules = parseRules(
    `rules:
  - friend: ${a}
    listen:
      - ports: [8080]
      - bind: "*"
        ports: [9000]
  - friend: ${b}
    allow:
      - host: "*"
    expires: 2030-01-01T00:00:00Z
`,
    'rules.yaml',
  );
  const at = (bind: string) => listenAddress(bind);
  assert.ok(rules.decideListen(a, at('127.0.0.1'), 8080).allowed);
  assert.not.ok(rules.decideListen(a, at('0.0.0.0'), 8080).allowed, 'default bind is loopback only');
  assert.ok(rules.decideListen(a, at('127.0.0.1'), 9000).allowed, '"*" covers loopback');
  assert.not.ok(rules.decideListen(a, at('0.0.0.0'), 9000).allowed, '"*" does not cover every interface: it must be spelled out');
  assert.not.ok(rules.decideListen(a, at('127.0.0.1'), 8081).allowed);
  assert.not.ok(rules.decideListen(b, at('127.0.0.1'), 8080).allowed, 'no listen entry');
  const before = new Date('2029-12-31T23:59:59Z');
  const after = new Date('2030-01-01T00:00:01Z');
  assert.ok(rules.admits(b, before));
  assert.not.ok(rules.admits(b, after), 'an expired rule is gone');
  assert.not.ok(rules.admits('C'.repeat(64), before));
  assert.equal(rules.nextExpiry(before), new Date('2030-01-01T00:00:00Z'));
  assert.is(rules.nextExpiry(after), undefined);
});

test.run();
