// SPDX-License-Identifier: GPL-3.0-or-later
/**
 * Property-based fuzzing of the frame codec (issue "hostile input"): every packet a peer can
 * send goes through decodePacket, so it must never throw, never allocate from a length the
 * peer chose, and classify every packet as a frame, "drop" or "reject".
 *
 * Runs per property: FUZZ_RUNS (default 10000); replay a failure with FUZZ_SEED=<seed> (the
 * seed and the shrunk counterexample are printed by fast-check when a property fails).
 */
import fc from 'fast-check';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { isToxtunnelError } from '../../src/errors.ts';
import {
  type DecodeResult,
  decodePacket,
  encodePacket,
  type Frame,
  FrameType,
  HEADER_SIZE,
  MAX_DATA_PAYLOAD,
  MAX_HOST_LENGTH,
  MAX_PACKET_SIZE,
  PACKET_ID,
} from '../../src/protocol/frame.ts';

const RUNS = Number(process.env.FUZZ_RUNS ?? 10000);
const params = (numRuns = RUNS): fc.Parameters<unknown> => ({
  numRuns,
  includeErrorInReport: true,
  ...(process.env.FUZZ_SEED ? { seed: Number(process.env.FUZZ_SEED) } : {}),
});

const utf8 = new TextEncoder();
const hex = (b: Uint8Array) => Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString('hex');
const u16 = (b: Uint8Array, at: number) => (b[at]! << 8) | b[at + 1]!;
/** The largest ERROR description (in UTF-8 bytes) encodePacket keeps whole. */
const MAX_DESCRIPTION_BYTES = MAX_PACKET_SIZE - 1 - HEADER_SIZE - 1;
/** Frame kind of each known type: OPEN -> 'open', REVERSE_LISTEN -> 'reverse-listen', … */
const KIND_OF_TYPE: Record<number, string> = Object.fromEntries(Object.entries(FrameType).map(([name, type]) => [type, name.toLowerCase().replace(/_/g, '-')]));
const KNOWN_TYPES = Object.values(FrameType) as number[];

/** decodePacket, failing the property (with the input in hex) if it throws. */
function decode(input: Uint8Array): DecodeResult {
  try {
    return decodePacket(input);
  } catch (error) {
    throw new Error(`decodePacket threw on ${hex(input)}: ${(error as Error)?.stack ?? String(error)}`);
  }
}

/** The frame with a DATA payload as a plain Uint8Array (a Buffer's payload is a Buffer). */
const plain = (f: Frame): Frame => (f.kind === 'data' ? { ...f, payload: Uint8Array.from(f.payload) } : f);

/**
 * The invariants of one decode: shape, drop/reject classification, bounds, views, and that an
 * accepted frame re-encodes and decodes to an equal frame. Returns the result.
 */
function checkDecode(input: Uint8Array): DecodeResult {
  const r = decode(input);
  const at = hex(input);
  assert.type(r, 'object', at);
  assert.type(r.ok, 'boolean', at);
  const shortOrForeign = input.length < 1 + HEADER_SIZE || input[0] !== PACKET_ID;
  const headerId = shortOrForeign ? 0 : u16(input, 2);
  if (!r.ok) {
    assert.ok(r.action === 'drop' || r.action === 'reject', `action ${String(r.action)} for ${at}`);
    assert.type(r.reason, 'string', at);
    assert.ok(r.reason.length > 0, `empty reason for ${at}`);
    assert.ok(Number.isInteger(r.tunnelId) && r.tunnelId >= 0 && r.tunnelId <= 0xffff, at);
    if (shortOrForeign) {
      assert.is(r.action, 'drop', `not ours, must be dropped: ${at}`);
      assert.is(r.tunnelId, 0, at);
    } else {
      assert.is(r.tunnelId, headerId, `tunnel id of ${at}`);
      // Never answer on tunnel 0, never answer a frame type we do not know.
      if (headerId === 0) assert.is(r.action, 'drop', `tunnel 0 must be dropped: ${at}`);
      // An unknown type (maybe a newer peer's) is dropped, unless its length field is wrong.
      if (!KNOWN_TYPES.includes(input[1]!) && u16(input, 4) <= input.length - 1 - HEADER_SIZE) assert.is(r.action, 'drop', `unknown type must be dropped: ${at}`);
    }
    return r;
  }

  // Accepted: the header was really there and the payload fits in what arrived.
  assert.not.ok(shortOrForeign, `accepted a short or foreign packet ${at}`);
  const length = u16(input, 4);
  const available = input.length - 1 - HEADER_SIZE;
  assert.ok(length <= available, `accepted length ${length} > ${available} present: ${at}`);
  const frame = r.frame;
  assert.is(frame.kind, KIND_OF_TYPE[input[1]!], `kind for type ${input[1]}: ${at}`);
  if ('tunnelId' in frame) assert.is(frame.tunnelId, headerId, at);
  switch (frame.kind) {
    case 'open': {
      assert.ok(frame.tunnelId !== 0, at);
      const hostBytes = utf8.encode(frame.host);
      assert.ok(hostBytes.length >= 1 && hostBytes.length <= MAX_HOST_LENGTH, at);
      assert.is(hostBytes.length, input[1 + HEADER_SIZE], `host length byte: ${at}`);
      assert.ok(1 + hostBytes.length + 2 <= length, `host overruns the payload: ${at}`);
      assert.not.match(frame.host, /[\u0000-\u001f\u007f]/, at);
      assert.ok(Number.isInteger(frame.port) && frame.port >= 1 && frame.port <= 65535, at);
      break;
    }
    case 'data':
      assert.ok(frame.tunnelId !== 0, at);
      assert.ok(frame.payload.length >= 1 && frame.payload.length <= MAX_DATA_PAYLOAD, at);
      assert.is(frame.payload.length, length, at);
      assert.ok(frame.payload.length <= input.length - 1 - HEADER_SIZE, `payload longer than the input: ${at}`);
      // A view into the received packet, not a copy sized by the peer.
      assert.ok(frame.payload.buffer === input.buffer, `payload is not a view of the packet: ${at}`);
      assert.is(frame.payload.byteOffset, input.byteOffset + 1 + HEADER_SIZE, at);
      break;
    case 'ack':
      assert.is(length, 4, at);
      assert.ok(Number.isInteger(frame.bytesAcked) && frame.bytesAcked >= 0 && frame.bytesAcked <= 0xffffffff, at);
      break;
    case 'error':
      assert.ok(length >= 1, at);
      assert.is(frame.code, input[1 + HEADER_SIZE], at);
      assert.ok(frame.description.length <= length - 1, `description longer than its bytes: ${at}`);
      assert.not.match(frame.description, /[\u0000-\u0008\u000b-\u001f\u007f]/, at);
      break;
    case 'hello':
      assert.ok(length >= 5, at);
      assert.ok(Number.isInteger(frame.capabilities) && frame.capabilities >= 0 && frame.capabilities <= 0xffffffff, at);
      break;
    case 'fin':
    case 'reverse-open':
      assert.ok(frame.tunnelId !== 0, at);
      if (frame.kind === 'reverse-open') assert.ok(frame.requestId >= 1 && frame.requestId <= 0xffff, at);
      break;
    case 'reverse-listen':
      assert.is(frame.requestId, headerId, at);
      assert.ok(frame.requestId !== 0, at);
      assert.ok(frame.port >= 1 && frame.port <= 65535, at);
      assert.ok(utf8.encode(frame.bind).length <= MAX_HOST_LENGTH, at);
      assert.not.match(frame.bind, /[\u0000-\u001f\u007f]/, at);
      break;
    case 'reverse-result':
      assert.is(frame.requestId, headerId, at);
      assert.ok(frame.requestId !== 0 && length >= 3, at);
      assert.ok(frame.message.length <= length - 3, `message longer than its bytes: ${at}`);
      assert.not.match(frame.message, /[\u0000-\u0008\u000b-\u001f\u007f]/, at);
      break;
    case 'reverse-cancel':
      assert.is(frame.requestId, headerId, at);
      assert.ok(frame.requestId !== 0, at);
      break;
    case 'close':
    case 'ping':
    case 'pong':
      break;
  }

  // Re-encode and decode again: an equal frame (trailing bytes and, for CLOSE/PING/PONG, an
  // ignored payload are not carried over). Known limitation: an ERROR description whose UTF-8
  // is longer than encodePacket keeps is truncated (see the known-bug test at the end).
  if (frame.kind === 'error' && utf8.encode(frame.description).length > MAX_DESCRIPTION_BYTES) return r;
  if (frame.kind === 'reverse-result' && utf8.encode(frame.message).length > MAX_DESCRIPTION_BYTES - 2) return r;
  let again: Uint8Array;
  try {
    again = encodePacket(frame);
  } catch (error) {
    throw new Error(`a decoded frame does not re-encode (${at}): ${String(error)}`);
  }
  const back = decode(again);
  assert.ok(back.ok, `re-encoded frame is refused: ${hex(again)} from ${at}`);
  if (back.ok) assert.equal(back.frame, plain(frame), `re-encoded frame differs: ${at}`);
  if (frame.kind === 'data' || frame.kind === 'ack') {
    // These carry every payload byte, so the bytes themselves must come back.
    assert.is(hex(again), hex(input.subarray(0, 1 + HEADER_SIZE + length)), at);
  } else if (frame.kind === 'open') {
    // Host length, host and port come back byte for byte (bytes after the port are ignored).
    assert.is(hex(again.subarray(1 + HEADER_SIZE)), hex(input.subarray(1 + HEADER_SIZE, again.length)), at);
  }
  return r;
}

// ---- arbitraries -------------------------------------------------------------------------

/** fc.record with ordinary objects (uvu's deep equality compares prototypes). */
const rec = <T>(model: { [K in keyof T]: fc.Arbitrary<T[K]> }) => fc.record<T>(model, { noNullPrototype: true });
const tunnelId = fc.oneof(fc.constantFrom(0, 1, 0xffff), fc.integer({ min: 0, max: 0xffff }));
const nonZeroTunnelId = fc.oneof(fc.constantFrom(1, 0xffff), fc.integer({ min: 1, max: 0xffff }));
const byte = fc.integer({ min: 0, max: 255 });
/** Bytes of any length up to `maxLength` (fast-check's default size keeps arrays short). */
const bytes = (constraints: { minLength?: number; maxLength: number }) =>
  fc.oneof(fc.uint8Array(constraints), fc.uint8Array({ ...constraints, size: 'max' }));
/** Any Unicode text (no lone surrogates), ASCII-heavy or not, short or up to `maxLength`. */
const text = (maxLength: number) =>
  fc.oneof(
    ...(['grapheme-ascii', 'grapheme', 'binary'] as const).flatMap((unit) => [fc.string({ maxLength, unit }), fc.string({ maxLength, unit, size: 'max' })]),
  );
/** The longest prefix of whole characters that fits in `maxBytes` of UTF-8. */
function clip(s: string, maxBytes: number): string {
  let used = 0;
  let out = '';
  for (const ch of s) {
    used += utf8.encode(ch).length;
    if (used > maxBytes) break;
    out += ch;
  }
  return out;
}
const openHost = text(MAX_HOST_LENGTH)
  .map((s) => clip(s.replace(/[\u0000-\u001f\u007f]/g, ''), MAX_HOST_LENGTH))
  .filter((s) => s.length > 0);
const description = text(MAX_DESCRIPTION_BYTES).map((s) => clip(s.replace(/[\u0000-\u0008\u000b-\u001f\u007f]/g, '?'), MAX_DESCRIPTION_BYTES));

/** Frames the protocol allows (and the decoder accepts). */
const validFrame: fc.Arbitrary<Frame> = fc.oneof(
  rec({ kind: fc.constant('open' as const), tunnelId: nonZeroTunnelId, host: openHost, port: fc.integer({ min: 1, max: 65535 }) }),
  rec({
    kind: fc.constant('data' as const),
    tunnelId: nonZeroTunnelId,
    payload: fc.oneof(fc.uint8Array({ minLength: 1, maxLength: 16 }), bytes({ minLength: 1, maxLength: MAX_DATA_PAYLOAD }), fc.constant(new Uint8Array(MAX_DATA_PAYLOAD).fill(0xa0))),
  }),
  rec({ kind: fc.constant('close' as const), tunnelId }),
  rec({ kind: fc.constant('ack' as const), tunnelId, bytesAcked: fc.oneof(fc.constantFrom(0, 0xffffffff), fc.integer({ min: 0, max: 0xffffffff })) }),
  rec({ kind: fc.constant('error' as const), tunnelId, code: fc.integer({ min: 0, max: 255 }), description }),
  fc.constant({ kind: 'ping' as const }),
  fc.constant({ kind: 'pong' as const }),
  // Extensions (docs/protocol.md, "Extensions").
  rec({ kind: fc.constant('hello' as const), version: byte, capabilities: fc.oneof(fc.constantFrom(0, 1, 3, 0xffffffff), fc.integer({ min: 0, max: 0xffffffff })) }),
  rec({ kind: fc.constant('fin' as const), tunnelId: nonZeroTunnelId }),
  rec({ kind: fc.constant('reverse-listen' as const), requestId: nonZeroTunnelId, port: fc.integer({ min: 1, max: 65535 }), bind: fc.oneof(fc.constant(''), openHost) }),
  rec({ kind: fc.constant('reverse-result' as const), requestId: nonZeroTunnelId, status: byte, port: fc.integer({ min: 0, max: 65535 }), message: description.map((m) => clip(m, MAX_DESCRIPTION_BYTES - 2)) }),
  rec({ kind: fc.constant('reverse-open' as const), tunnelId: nonZeroTunnelId, requestId: nonZeroTunnelId }),
  rec({ kind: fc.constant('reverse-cancel' as const), requestId: nonZeroTunnelId }),
);

/** Random packets that often look like ours: right packet id, known type, plausible length. */
const headerShaped = fc
  .record({
    id: fc.oneof({ weight: 4, arbitrary: fc.constant(PACKET_ID) }, fc.integer({ min: 0, max: 255 })),
    type: fc.oneof({ weight: 4, arbitrary: fc.constantFrom(...KNOWN_TYPES) }, fc.integer({ min: 0, max: 255 })),
    tunnelId,
    body: fc.oneof(fc.uint8Array({ maxLength: 12 }), bytes({ maxLength: 300 }), bytes({ maxLength: 1494 })),
    lengthDelta: fc.oneof({ weight: 3, arbitrary: fc.constant(0) }, fc.integer({ min: -3, max: 3 }), fc.integer({ min: -0xffff, max: 0xffff })),
  })
  .map(({ id, type, tunnelId, body, lengthDelta }) => {
    const out = new Uint8Array(1 + HEADER_SIZE + body.length);
    const length = Math.min(0xffff, Math.max(0, body.length + lengthDelta));
    out.set([id, type, tunnelId >> 8, tunnelId & 0xff, length >> 8, length & 0xff]);
    out.set(body, 1 + HEADER_SIZE);
    return out;
  });

type Mutation =
  | { op: 'flip'; pos: number; bit: number }
  | { op: 'set'; pos: number; value: number }
  | { op: 'truncate'; keep: number }
  | { op: 'extend'; bytes: Uint8Array }
  | { op: 'splice'; pos: number; remove: number; insert: Uint8Array }
  | { op: 'length'; delta: number }
  | { op: 'lengthAbs'; value: number }
  | { op: 'hostLen'; value: number }
  | { op: 'type'; value: number }
  | { op: 'tunnel'; value: number };

const position = fc.nat({ max: 2000 });
const mutation: fc.Arbitrary<Mutation> = fc.oneof(
  fc.record({ op: fc.constant('flip' as const), pos: position, bit: fc.integer({ min: 0, max: 7 }) }),
  fc.record({ op: fc.constant('set' as const), pos: position, value: byte }),
  fc.record({ op: fc.constant('truncate' as const), keep: position }),
  fc.record({ op: fc.constant('extend' as const), bytes: fc.uint8Array({ minLength: 1, maxLength: 64 }) }),
  fc.record({ op: fc.constant('splice' as const), pos: position, remove: fc.nat({ max: 16 }), insert: fc.uint8Array({ maxLength: 16 }) }),
  fc.record({ op: fc.constant('length' as const), delta: fc.integer({ min: -4, max: 4 }) }),
  fc.record({ op: fc.constant('lengthAbs' as const), value: fc.oneof(fc.constantFrom(0, 1, 0xffff, MAX_DATA_PAYLOAD, MAX_DATA_PAYLOAD + 1), fc.integer({ min: 0, max: 0xffff })) }),
  fc.record({ op: fc.constant('hostLen' as const), value: fc.oneof(fc.constantFrom(0, 1, 255), byte) }),
  fc.record({ op: fc.constant('type' as const), value: fc.oneof(fc.constantFrom(...KNOWN_TYPES), byte) }),
  fc.record({ op: fc.constant('tunnel' as const), value: tunnelId }),
);

function mutate(packet: Uint8Array, mutations: Mutation[]): Uint8Array {
  let b = Uint8Array.from(packet);
  const put16 = (at: number, v: number) => {
    if (b.length >= at + 2) b.set([(v >> 8) & 0xff, v & 0xff], at);
  };
  for (const m of mutations) {
    switch (m.op) {
      case 'flip':
        if (b.length) b[m.pos % b.length]! ^= 1 << m.bit;
        break;
      case 'set':
        if (b.length) b[m.pos % b.length] = m.value;
        break;
      case 'truncate':
        b = b.slice(0, m.keep % (b.length + 1));
        break;
      case 'extend': {
        const out = new Uint8Array(b.length + m.bytes.length);
        out.set(b);
        out.set(m.bytes, b.length);
        b = out;
        break;
      }
      case 'splice': {
        const at = m.pos % (b.length + 1);
        b = Uint8Array.from([...b.subarray(0, at), ...m.insert, ...b.subarray(at + m.remove)]);
        break;
      }
      case 'length':
        if (b.length >= 6) put16(4, Math.min(0xffff, Math.max(0, u16(b, 4) + m.delta)));
        break;
      case 'lengthAbs':
        put16(4, m.value);
        break;
      case 'hostLen':
        if (b.length > 1 + HEADER_SIZE) b[1 + HEADER_SIZE] = m.value;
        break;
      case 'type':
        if (b.length > 1) b[1] = m.value;
        break;
      case 'tunnel':
        put16(2, m.value);
        break;
    }
  }
  return b;
}

// ---- properties ----------------------------------------------------------------------------

test('random bytes (0..1500): decodePacket never throws and classifies every packet', () => {
  fc.assert(
    fc.property(bytes({ maxLength: 1500 }), (input) => {
      checkDecode(input);
    }),
    params(),
  );
});

test('header-shaped random packets: never throws, bounds hold, accepted frames round-trip', () => {
  let accepted = 0;
  fc.assert(
    fc.property(headerShaped, (input) => {
      if (checkDecode(input).ok) accepted++;
    }),
    params(),
  );
  // The generator must actually reach the accepting paths, or this property tests little.
  assert.ok(accepted > RUNS / 20, `only ${accepted} of ${RUNS} packets were accepted`);
});

test('mutated valid frames (bit flips, truncation, extension, length and host_len changes) never break decoding', () => {
  const outcomes = new Set<string>();
  fc.assert(
    fc.property(validFrame, fc.array(mutation, { minLength: 1, maxLength: 6 }), (frame, mutations) => {
      const r = checkDecode(mutate(encodePacket(frame), mutations));
      outcomes.add(r.ok ? `ok:${r.frame.kind}` : `${r.action}`);
    }),
    params(),
  );
  for (const expected of ['ok:open', 'ok:data', 'ok:error', 'drop', 'reject']) assert.ok(outcomes.has(expected), `never reached ${expected}: ${[...outcomes]}`);
});

test('OPEN host_len overruns and underruns are rejected, never read past the payload', () => {
  fc.assert(
    fc.property(nonZeroTunnelId, bytes({ maxLength: 300 }), byte, (id, rest, hostLen) => {
      const payload = Uint8Array.from([hostLen, ...rest]);
      const input = mutate(encodePacket({ kind: 'data', tunnelId: id, payload }), [{ op: 'type', value: FrameType.OPEN }]);
      const r = checkDecode(input);
      if (hostLen === 0 || 1 + hostLen + 2 > payload.length) {
        assert.not.ok(r.ok, hex(input));
        if (!r.ok) assert.is(r.action, 'reject', hex(input));
      }
    }),
    params(),
  );
});

test('decoding does not depend on where the packet sits in memory (byteOffset, Buffer pool)', () => {
  fc.assert(
    fc.property(fc.oneof(headerShaped, validFrame.map(encodePacket)), fc.nat({ max: 64 }), fc.nat({ max: 64 }), (packet, before, after) => {
      const big = new Uint8Array(before + packet.length + after).fill(0xa5);
      big.set(packet, before);
      const view = big.subarray(before, before + packet.length);
      const decoded = checkDecode(Uint8Array.from(packet));
      const offset = checkDecode(view);
      const pooled = checkDecode(Buffer.from(packet));
      assert.equal(offset, decoded);
      assert.equal(pooled.ok, decoded.ok);
      if (pooled.ok && decoded.ok) {
        assert.equal(plain(pooled.frame), plain(decoded.frame));
      } else {
        assert.equal(pooled, decoded);
      }
    }),
    params(2000),
  );
});

test('encoding arbitrary valid frames round-trips', () => {
  fc.assert(
    fc.property(validFrame, fc.uint8Array({ maxLength: 32 }), (frame, trailing) => {
      const packet = encodePacket(frame);
      assert.ok(packet.length <= MAX_PACKET_SIZE, `${packet.length} bytes`);
      assert.is(packet[0], PACKET_ID);
      assert.is(u16(packet, 4), packet.length - 1 - HEADER_SIZE);
      const r = checkDecode(packet);
      assert.ok(r.ok, JSON.stringify(r));
      if (r.ok) assert.equal(r.frame, frame);
      // Trailing bytes after the payload are ignored.
      const padded = new Uint8Array(packet.length + trailing.length);
      padded.set(packet);
      padded.set(trailing, packet.length);
      const p = checkDecode(padded);
      assert.ok(p.ok);
      if (p.ok) assert.equal(p.frame, frame);
    }),
    params(),
  );
});

test('encodePacket: frames outside the protocol throw FRAME_INVALID, not anything else', () => {
  const anyNumber = fc.oneof(fc.integer({ min: -70000, max: 140000 }), fc.double(), fc.constantFrom(NaN, Infinity, -0, 0.5));
  const loose: fc.Arbitrary<Frame> = fc.oneof(
    rec({ kind: fc.constant('open' as const), tunnelId: anyNumber, host: fc.string({ maxLength: 300, unit: 'binary', size: 'max' }), port: anyNumber }),
    rec({ kind: fc.constant('data' as const), tunnelId: anyNumber, payload: fc.oneof(fc.uint8Array({ maxLength: 4 }), fc.uint8Array({ minLength: MAX_DATA_PAYLOAD - 2, maxLength: MAX_DATA_PAYLOAD + 2 })) }),
    rec({ kind: fc.constant('close' as const), tunnelId: anyNumber }),
    rec({ kind: fc.constant('ack' as const), tunnelId: anyNumber, bytesAcked: anyNumber }),
    rec({ kind: fc.constant('error' as const), tunnelId: anyNumber, code: anyNumber, description: fc.string({ maxLength: 1500, unit: 'binary', size: 'max' }) }),
    rec({ kind: fc.constant('hello' as const), version: anyNumber, capabilities: anyNumber }),
    rec({ kind: fc.constant('fin' as const), tunnelId: anyNumber }),
    rec({ kind: fc.constant('reverse-listen' as const), requestId: anyNumber, port: anyNumber, bind: fc.string({ maxLength: 300, unit: 'binary', size: 'max' }) }),
    rec({ kind: fc.constant('reverse-result' as const), requestId: anyNumber, status: anyNumber, port: anyNumber, message: fc.string({ maxLength: 1500, unit: 'binary', size: 'max' }) }),
    rec({ kind: fc.constant('reverse-open' as const), tunnelId: anyNumber, requestId: anyNumber }),
    rec({ kind: fc.constant('reverse-cancel' as const), requestId: anyNumber }),
  );
  fc.assert(
    fc.property(loose, (frame) => {
      let packet: Uint8Array;
      try {
        packet = encodePacket(frame);
      } catch (error) {
        assert.ok(isToxtunnelError(error, 'FRAME_INVALID'), `encodePacket threw ${String(error)}`);
        return;
      }
      assert.ok(packet.length <= MAX_PACKET_SIZE, `${packet.length}-byte packet from ${JSON.stringify(frame).slice(0, 200)}`);
      checkDecode(packet);
    }),
    params(),
  );
});

// ---- regressions: bugs the fuzzing found (fixed), kept as tests ----


// encodePacket accepts frames that decodePacket then refuses: OPEN/DATA on tunnel 0, an OPEN
// host with NUL/control bytes, an ERROR code outside 0..255 (silently taken mod 256), and
// truncates a long ERROR description in the middle of a UTF-8 character.
test('regression: whatever encodePacket accepts decodes to the same frame', () => {
  const frame: fc.Arbitrary<Frame> = fc.oneof(
    rec({ kind: fc.constant('open' as const), tunnelId, host: fc.string({ minLength: 1, maxLength: 255, unit: 'binary-ascii' }), port: fc.integer({ min: 1, max: 65535 }) }),
    rec({ kind: fc.constant('data' as const), tunnelId, payload: fc.uint8Array({ minLength: 1, maxLength: 16 }) }),
    rec({ kind: fc.constant('error' as const), tunnelId, code: fc.integer({ min: -1, max: 256 }), description: fc.constant('€'.repeat(500)) }),
  );
  fc.assert(
    fc.property(frame, (f) => {
      let packet: Uint8Array;
      try {
        packet = encodePacket(f);
      } catch (error) {
        assert.ok(isToxtunnelError(error, 'FRAME_INVALID'));
        return;
      }
      const r = decodePacket(packet);
      assert.ok(r.ok, `encodePacket(${JSON.stringify(f).slice(0, 120)}) made a packet the decoder refuses: ${JSON.stringify(r)}`);
      if (r.ok && f.kind === 'error') assert.ok(f.description.startsWith(r.frame.kind === 'error' ? r.frame.description : ''), 'truncated description is not a prefix');
      else if (r.ok) assert.equal(r.frame, f);
    }),
    params(500),
  );
});

test.run();
