// SPDX-License-Identifier: GPL-3.0-or-later
// The translation between our frames and tuntox's (src/tuntox/translator.ts), with a fake
// session. Expected bytes are written from ../shared/TUNTOX.md (§1-§3, §8.1), not computed.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { encodePacket, type Frame } from '../../src/protocol/frame.ts';
import { TuntoxTranslator } from '../../src/tuntox/translator.ts';

const hex = (b: Uint8Array) => Buffer.from(b).toString('hex').toUpperCase().replace(/(..)(?!$)/g, '$1 ');
const bytes = (h: string) => new Uint8Array(Buffer.from(h.replace(/\s/g, ''), 'hex'));
const h16 = (n: number) => hex(new Uint8Array([n >> 8, n & 0xff]));
const tick = () => new Promise((r) => setTimeout(r, 0));

function setup(role: 'server' | 'client') {
  const delivered: Frame[] = [];
  const raw: Array<{ packet: string; bestEffort: boolean }> = [];
  const drops: Array<{ reason: string; warn: boolean }> = [];
  const t = new TuntoxTranslator(role, {
    deliver: (frame) => delivered.push(frame),
    sendRaw: (packet, bestEffort) => raw.push({ packet: hex(packet), bestEffort: bestEffort === true }),
    isInUse: () => false,
    dropped: (reason, warn) => drops.push({ reason, warn: warn === true }),
  });
  const out = (frame: Frame) => t.outbound(encodePacket(frame)).map(hex);
  return { t, delivered, raw, drops, out };
}

test('server: REQUESTTUNNEL becomes OPEN; ACK(0) becomes ACKTUNNEL with the forward id echoed', () => {
  const { t, delivered, out } = setup('server');
  t.inbound(bytes('A2 6B 06 02 00 16 00 0D 12 34 56 78 31 32 37 2E 30 2E 30 2E 31'));
  const open = delivered[0];
  assert.ok(open?.kind === 'open' && open.host === '127.0.0.1' && open.port === 22, JSON.stringify(open));
  const id = (open as { tunnelId: number }).tunnelId;
  assert.ok(id >= 1 && id <= 0xffff);
  assert.equal(out({ kind: 'ack', tunnelId: id, bytesAcked: 0 }), [`A2 6B 06 10 ${h16(id)} 00 04 12 34 56 78`]);
});

test('server: a refused open becomes DENYTUNNEL (connid 0, forward id, reason); nothing else is sent', () => {
  const { t, delivered, out } = setup('server');
  t.inbound(bytes('A2 6B 06 02 00 16 00 0D 12 34 56 78 31 32 37 2E 30 2E 30 2E 31'));
  const id = (delivered[0] as { tunnelId: number }).tunnelId;
  const reason = Buffer.from('Access denied').toString('hex').toUpperCase().replace(/(..)(?!$)/g, '$1 ');
  assert.equal(out({ kind: 'error', tunnelId: id, code: 1, description: 'Access denied' }), [`A2 6B 06 04 00 00 00 11 12 34 56 78 ${reason}`]);
  assert.equal(out({ kind: 'ack', tunnelId: id, bytesAcked: 0 }), [], 'no ACK for a refused open');
});

test('data: split at 1365, acknowledged to our tunnel at once (tuntox never ACKs); our flow-control ACKs are not sent', async () => {
  const { t, delivered, out } = setup('server');
  t.inbound(bytes('A2 6B 06 02 00 16 00 0D 12 34 56 78 31 32 37 2E 30 2E 30 2E 31'));
  const id = (delivered[0] as { tunnelId: number }).tunnelId;
  out({ kind: 'ack', tunnelId: id, bytesAcked: 0 });
  const sent = t.outbound(encodePacket({ kind: 'data', tunnelId: id, payload: new Uint8Array(1367).fill(7) }));
  assert.equal(sent.map((p) => p.length), [8 + 1365, 8 + 2]);
  assert.equal(hex(sent[1]!), `A2 6B 06 00 ${h16(id)} 00 02 07 07`);
  await tick();
  assert.equal(delivered.at(-1), { kind: 'ack', tunnelId: id, bytesAcked: 1367 });
  assert.equal(out({ kind: 'ack', tunnelId: id, bytesAcked: 16384 }), []);
  assert.equal(out({ kind: 'ping' }), [], 'no keepalive to a tuntox peer');
  assert.equal(out({ kind: 'hello', version: 1, capabilities: 3 }), [], 'no extensions');
});

test('TCP and TCP_FIN from the peer; our CLOSE after its FIN is not echoed; late TCP ignored', () => {
  const { t, delivered, out } = setup('server');
  t.inbound(bytes('A2 6B 06 02 00 16 00 0D 12 34 56 78 31 32 37 2E 30 2E 30 2E 31'));
  const id = (delivered[0] as { tunnelId: number }).tunnelId;
  out({ kind: 'ack', tunnelId: id, bytesAcked: 0 });
  t.inbound(bytes(`A2 6B 06 00 ${h16(id)} 00 03 61 62 63`));
  t.inbound(bytes(`A2 6B 06 00 ${h16(id)} 00 00`)); // length 0: a no-op
  t.inbound(bytes(`A2 6B 06 01 ${h16(id)} 00 00`));
  assert.equal(delivered.slice(1).map((f) => f.kind), ['data', 'close']);
  assert.equal(hex((delivered[1] as { payload: Uint8Array }).payload), '61 62 63');
  assert.equal(out({ kind: 'close', tunnelId: id }), [], 'no FIN back (§3)');
  t.inbound(bytes(`A2 6B 06 00 ${h16(id)} 00 01 61`));
  assert.is(delivered.length, 3, 'data for a finished tunnel is ignored');
});

test('client: OPEN becomes REQUESTTUNNEL (port as connid, forward id + host); ACKTUNNEL confirms; ids are translated', async () => {
  const { t, delivered, out } = setup('client');
  const [request] = out({ kind: 'open', tunnelId: 5, host: '127.0.0.1', port: 22 });
  assert.match(request!, /^A2 6B 06 02 00 16 00 0D (.. .. .. ..) 31 32 37 2E 30 2E 30 2E 31$/);
  const forwardId = request!.slice(24, 35);
  t.inbound(bytes(`A2 6B 06 10 00 00 00 04 ${forwardId}`)); // tunnel id 0 is valid in tuntox
  assert.equal(delivered, [{ kind: 'ack', tunnelId: 5, bytesAcked: 0 }]);
  assert.equal(out({ kind: 'data', tunnelId: 5, payload: bytes('68 69') }), ['A2 6B 06 00 00 00 00 02 68 69']);
  t.inbound(bytes('A2 6B 06 00 00 00 00 01 21'));
  assert.equal(delivered.find((f) => f.kind === 'data'), { kind: 'data', tunnelId: 5, payload: bytes('21') });
  assert.equal(out({ kind: 'close', tunnelId: 5 }), ['A2 6B 06 01 00 00 00 00']);
  await tick();
  assert.equal(delivered.at(-1), { kind: 'close', tunnelId: 5 }, 'our tunnel stops waiting for a CLOSE tuntox never sends');
});

test('client: an ACK for a request we gave up on is answered with TCP_FIN (§8.1); a second ACK for the same id is ignored', () => {
  const { t, delivered, raw, out } = setup('client');
  const [request] = out({ kind: 'open', tunnelId: 9, host: 'db', port: 5432 });
  const forwardId = request!.slice(24, 35);
  assert.equal(out({ kind: 'close', tunnelId: 9 }), [], 'nothing to FIN yet');
  t.inbound(bytes(`A2 6B 06 10 34 20 00 04 ${forwardId}`));
  assert.equal(raw, [{ packet: 'A2 6B 06 01 34 20 00 00', bestEffort: false }]);
  t.inbound(bytes(`A2 6B 06 10 34 21 00 04 ${forwardId}`));
  assert.is(raw.length, 1);
  assert.is(delivered.length, 0);
});

test('client: DENYTUNNEL fails the pending open with the reason text', () => {
  const { t, delivered, out } = setup('client');
  const [request] = out({ kind: 'open', tunnelId: 3, host: 'x', port: 1 });
  const forwardId = request!.slice(24, 35);
  t.inbound(bytes(`A2 6B 06 04 00 00 00 11 ${forwardId} ${Buffer.from('Access denied').toString('hex')}`));
  assert.equal(delivered, [{ kind: 'error', tunnelId: 3, code: 1, description: 'Access denied' }]);
});

test('PING is answered with a PONG (connid 0, same data), best effort; V1 frames are dropped with a warning', () => {
  const { t, raw, drops } = setup('client');
  t.inbound(bytes('A2 6B 01 08 00 00 00 05 48 65 6C 6C 6F'));
  assert.equal(raw, [{ packet: 'A2 6B 01 00 00 00 00 05 48 65 6C 6C 6F', bestEffort: true }]);
  t.inbound(bytes('A2 6A 06 02 00 16 00 09 31 32 37 2E 30 2E 30 2E 31'));
  assert.is(drops.length, 1);
  assert.ok(drops[0]!.warn && /version 1/.test(drops[0]!.reason));
});

test('server: a REQUESTTUNNEL shorter than the forward id, or for port 0, is refused, never opened', () => {
  const { t, delivered, drops } = setup('server');
  t.inbound(bytes('A2 6B 06 02 00 16 00 03 12 34 56'));
  t.inbound(bytes('A2 6B 06 02 00 00 00 05 12 34 56 78 61'));
  assert.is(delivered.length, 0);
  assert.is(drops.length, 2);
});

test.run();
