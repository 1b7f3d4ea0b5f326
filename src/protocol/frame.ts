// SPDX-License-Identifier: GPL-3.0-or-later
/**
 * toxtunnel frames (base protocol v1, ../shared/PROTOCOL.md; docs/protocol.md).
 *
 * Transport: one frame per Tox lossless custom packet; byte 0 of the packet is the packet id
 * 0xA0 (toxcore accepts lossless custom packets whose first byte is 160..191); the frame
 * starts at byte 1. All integers big-endian.
 *
 *   offset 0  type        1 byte
 *   offset 1  tunnel_id   2 bytes
 *   offset 3  length      2 bytes (payload bytes)
 *   offset 5  payload     `length` bytes
 *
 * decodePacket never throws on peer input and never allocates from a length the peer chose:
 * payloads are views into the received packet, bounded by what actually arrived.
 */
import { ToxtunnelError } from '../errors.ts';
import { Slab } from './slab.ts';

/** Packet id of every toxtunnel packet (byte 0). */
export const PACKET_ID = 0xa0;
/** TOX_MAX_CUSTOM_PACKET_SIZE. */
export const MAX_PACKET_SIZE = 1373;
export const HEADER_SIZE = 5;
/** 1373 - 1 (packet id) - 5 (header): the largest TUNNEL_DATA payload. */
export const MAX_DATA_PAYLOAD = MAX_PACKET_SIZE - 1 - HEADER_SIZE;
export const MAX_HOST_LENGTH = 255;

export const FrameType = {
  OPEN: 0x01,
  DATA: 0x02,
  CLOSE: 0x03,
  ACK: 0x04,
  ERROR: 0x05,
  PING: 0x10,
  PONG: 0x11,
  // 0x20..0x3F: our negotiated extensions (docs/protocol.md, "Extensions"). A base-protocol
  // peer drops unknown types with a warning, so sending HELLO to it is harmless; every other
  // extension frame is sent only after the peer's HELLO announced the capability.
  HELLO: 0x20,
  FIN: 0x21,
  REVERSE_LISTEN: 0x22,
  REVERSE_RESULT: 0x23,
  REVERSE_OPEN: 0x24,
  REVERSE_CANCEL: 0x25,
} as const;

const KNOWN_TYPES: ReadonlySet<number> = new Set(Object.values(FrameType));

/** Version byte of our HELLO frame. */
export const HELLO_VERSION = 1;

/** Capability bits of HELLO (a 32-bit big-endian mask). */
export const Capability = {
  /** TUNNEL_FIN: one direction ends, the other keeps flowing (TCP half-close). */
  HALF_CLOSE: 1 << 0,
  /** REVERSE_*: the server listens on the client's behalf (ssh -R). */
  REVERSE: 1 << 1,
  /** A 2 MiB send window, acknowledged in 64 KiB steps (flow-control.ts WIDE_*). */
  WIDE_WINDOW: 1 << 2,
} as const;

/** What we announce unless extensions are off. */
export const OUR_CAPABILITIES = Capability.HALF_CLOSE | Capability.REVERSE | Capability.WIDE_WINDOW;

/** REVERSE_RESULT status byte. */
export const ReverseStatus = {
  LISTENING: 0,
  NOT_ALLOWED: 1,
  LISTEN_FAILED: 2,
  INVALID: 3,
} as const;

/** TUNNEL_ERROR codes; each is overloaded in the existing implementation. */
export const ErrorCode = {
  /** "Access denied" / "Tunnel not found" (DATA for an unknown id). */
  ACCESS_DENIED_OR_NOT_FOUND: 1,
  /** "DNS resolution failed: …" / "Tunnel ID in use". */
  DNS_FAILED_OR_ID_IN_USE: 2,
  /** "TCP connect failed: …" / "Tunnel limit exceeded". */
  CONNECT_FAILED_OR_LIMIT: 3,
} as const;

export type Frame =
  | { kind: 'open'; tunnelId: number; host: string; port: number }
  | { kind: 'data'; tunnelId: number; payload: Uint8Array }
  | { kind: 'close'; tunnelId: number }
  | { kind: 'ack'; tunnelId: number; bytesAcked: number }
  | { kind: 'error'; tunnelId: number; code: number; description: string }
  | { kind: 'ping' }
  | { kind: 'pong' }
  // Extensions (ours, negotiated):
  | { kind: 'hello'; version: number; capabilities: number }
  | { kind: 'fin'; tunnelId: number }
  | { kind: 'reverse-listen'; requestId: number; port: number; bind: string }
  | { kind: 'reverse-result'; requestId: number; status: number; port: number; message: string }
  | { kind: 'reverse-open'; tunnelId: number; requestId: number }
  | { kind: 'reverse-cancel'; requestId: number };

export type DecodeResult =
  | { ok: true; frame: Frame }
  | {
      ok: false;
      /** drop: ignore silently (not ours, or maybe a newer peer's); reject: answer with ERROR. */
      action: 'drop' | 'reject';
      tunnelId: number;
      reason: string;
    };

const utf8 = new TextEncoder();
const utf8Strict = new TextDecoder('utf-8', { fatal: true });
const utf8Lenient = new TextDecoder('utf-8');

function invalid(message: string): never {
  throw new ToxtunnelError('FRAME_INVALID', `cannot encode frame: ${message}`);
}

/** Encodes a frame as a whole Tox packet (0xA0 first). Throws FRAME_INVALID for bad frames. */
export function encodePacket(frame: Frame): Uint8Array {
  switch (frame.kind) {
    case 'open': {
      const host = utf8.encode(frame.host);
      if (host.length < 1 || host.length > MAX_HOST_LENGTH) invalid(`host must be 1..${MAX_HOST_LENGTH} bytes`);
      if (hasControlBytes(host)) invalid('host contains NUL or control bytes');
      if (!isPort(frame.port)) invalid(`port ${frame.port} is not 1..65535`);
      const payload = new Uint8Array(1 + host.length + 2);
      payload[0] = host.length;
      payload.set(host, 1);
      new DataView(payload.buffer).setUint16(1 + host.length, frame.port);
      return packet(FrameType.OPEN, nonZeroId(frame.tunnelId), payload);
    }
    case 'data':
      if (frame.payload.length < 1 || frame.payload.length > MAX_DATA_PAYLOAD) invalid(`DATA payload must be 1..${MAX_DATA_PAYLOAD} bytes`);
      return packet(FrameType.DATA, nonZeroId(frame.tunnelId), frame.payload);
    case 'close':
      return packet(FrameType.CLOSE, frame.tunnelId, new Uint8Array(0));
    case 'ack': {
      const payload = new Uint8Array(4);
      new DataView(payload.buffer).setUint32(0, frame.bytesAcked >>> 0);
      return packet(FrameType.ACK, frame.tunnelId, payload);
    }
    case 'error': {
      byte(frame.code, 'ERROR code');
      const text = truncateUtf8(utf8.encode(frame.description), MAX_PACKET_SIZE - 1 - HEADER_SIZE - 1);
      const payload = new Uint8Array(1 + text.length);
      payload[0] = frame.code;
      payload.set(text, 1);
      return packet(FrameType.ERROR, frame.tunnelId, payload);
    }
    case 'ping':
      return packet(FrameType.PING, 0, new Uint8Array(0));
    case 'pong':
      return packet(FrameType.PONG, 0, new Uint8Array(0));
    case 'hello': {
      byte(frame.version, 'HELLO version');
      if (!Number.isInteger(frame.capabilities) || frame.capabilities < 0 || frame.capabilities > 0xffffffff) invalid(`capabilities ${frame.capabilities} is not a 32-bit mask`);
      const payload = new Uint8Array(5);
      payload[0] = frame.version;
      new DataView(payload.buffer).setUint32(1, frame.capabilities >>> 0);
      return packet(FrameType.HELLO, 0, payload);
    }
    case 'fin':
      return packet(FrameType.FIN, frame.tunnelId, new Uint8Array(0));
    case 'reverse-listen': {
      const bind = utf8.encode(frame.bind);
      if (bind.length > MAX_HOST_LENGTH) invalid(`bind address must be at most ${MAX_HOST_LENGTH} bytes`);
      if (hasControlBytes(bind)) invalid('bind address contains NUL or control bytes');
      if (!isPort(frame.port)) invalid(`port ${frame.port} is not 1..65535`);
      const payload = new Uint8Array(3 + bind.length);
      new DataView(payload.buffer).setUint16(0, frame.port);
      payload[2] = bind.length;
      payload.set(bind, 3);
      return packet(FrameType.REVERSE_LISTEN, nonZeroId(frame.requestId), payload);
    }
    case 'reverse-result': {
      byte(frame.status, 'REVERSE_RESULT status');
      if (!Number.isInteger(frame.port) || frame.port < 0 || frame.port > 65535) invalid(`port ${frame.port} is not 0..65535`);
      const text = truncateUtf8(utf8.encode(frame.message), MAX_PACKET_SIZE - 1 - HEADER_SIZE - 3);
      const payload = new Uint8Array(3 + text.length);
      payload[0] = frame.status;
      new DataView(payload.buffer).setUint16(1, frame.port);
      payload.set(text, 3);
      return packet(FrameType.REVERSE_RESULT, nonZeroId(frame.requestId), payload);
    }
    case 'reverse-open': {
      const payload = new Uint8Array(2);
      new DataView(payload.buffer).setUint16(0, nonZeroId(frame.requestId));
      return packet(FrameType.REVERSE_OPEN, nonZeroId(frame.tunnelId), payload);
    }
    case 'reverse-cancel':
      return packet(FrameType.REVERSE_CANCEL, nonZeroId(frame.requestId), new Uint8Array(0));
  }
}

function nonZeroId(id: number): number {
  if (!Number.isInteger(id) || id < 1 || id > 0xffff) invalid(`id ${id} is not 1..65535 (0 is reserved)`);
  return id;
}

function byte(value: number, what: string): void {
  if (!Number.isInteger(value) || value < 0 || value > 255) invalid(`${what} ${value} is not 0..255`);
}

const hasControlBytes = (bytes: Uint8Array) => bytes.some((b) => b < 0x20 || b === 0x7f);

/** A host name or address from a peer: strict UTF-8, no NUL or control bytes. */
function hostText(bytes: Uint8Array): string | { problem: string } {
  if (hasControlBytes(bytes)) return { problem: 'contains NUL or control bytes' };
  try {
    return utf8Strict.decode(bytes);
  } catch {
    return { problem: 'is not UTF-8' };
  }
}

/** At most `max` bytes, cut at a character boundary (never in the middle of a UTF-8 sequence). */
function truncateUtf8(bytes: Uint8Array, max: number): Uint8Array {
  if (bytes.length <= max) return bytes;
  let end = max;
  while (end > 0 && (bytes[end]! & 0xc0) === 0x80) end--;
  return bytes.subarray(0, end);
}

/** Encoded packets are carved from slabs (one per process): see slab.ts. */
const packets = new Slab();

function packet(type: number, tunnelId: number, payload: Uint8Array): Uint8Array {
  if (!Number.isInteger(tunnelId) || tunnelId < 0 || tunnelId > 0xffff) invalid(`tunnel id ${tunnelId} is not 0..65535`);
  const out = packets.alloc(1 + HEADER_SIZE + payload.length);
  out[0] = PACKET_ID;
  out[1] = type;
  out[2] = tunnelId >> 8;
  out[3] = tunnelId & 0xff;
  out[4] = payload.length >> 8;
  out[5] = payload.length & 0xff;
  out.set(payload, 1 + HEADER_SIZE);
  return out;
}

const isPort = (port: number) => Number.isInteger(port) && port >= 1 && port <= 65535;

/** Decodes one received packet. Never throws. */
export function decodePacket(packet: Uint8Array): DecodeResult {
  // Be strict: not 0xA0, or shorter than packet id + header: not ours, drop.
  if (packet.length < 1 + HEADER_SIZE) return { ok: false, action: 'drop', tunnelId: 0, reason: `packet of ${packet.length} bytes is shorter than a frame header` };
  if (packet[0] !== PACKET_ID) return { ok: false, action: 'drop', tunnelId: 0, reason: `packet id ${packet[0]} is not 0xA0` };
  // No DataView and no closure per packet: this runs for every 1.4 kB received.
  const type = packet[1]!;
  const tunnelId = be16(packet, 2);
  const length = be16(packet, 4);
  const available = packet.length - 1 - HEADER_SIZE;
  if (length > available) {
    // A type we do not know may be a newer peer's: never answered, whatever its length says.
    if (!KNOWN_TYPES.has(type)) return { ok: false, action: 'drop', tunnelId, reason: `unknown frame type 0x${type.toString(16).padStart(2, '0')} (length ${length} beyond the packet)` };
    return rejected(tunnelId, `length ${length} exceeds the ${available} payload bytes present`);
  }
  // Trailing bytes after 5 + length are ignored, as the existing implementation does.
  const payload = packet.subarray(1 + HEADER_SIZE, 1 + HEADER_SIZE + length);
  switch (type) {
    case FrameType.OPEN: {
      if (tunnelId === 0) return rejected(tunnelId, 'OPEN on tunnel 0 (reserved for PING/PONG)');
      if (payload.length < 1) return rejected(tunnelId, 'OPEN without a host length');
      const hostLength = payload[0]!;
      if (hostLength < 1) return rejected(tunnelId, 'OPEN with an empty host');
      if (1 + hostLength + 2 > payload.length) return rejected(tunnelId, `OPEN host length ${hostLength} overruns the payload`);
      const host = hostText(payload.subarray(1, 1 + hostLength));
      if (typeof host !== 'string') return rejected(tunnelId, `OPEN host ${host.problem}`);
      const port = new DataView(payload.buffer, payload.byteOffset + 1 + hostLength, 2).getUint16(0);
      if (port === 0) return rejected(tunnelId, 'OPEN to port 0');
      return { ok: true, frame: { kind: 'open', tunnelId, host, port } };
    }
    case FrameType.DATA:
      if (tunnelId === 0) return rejected(tunnelId, 'DATA on tunnel 0');
      if (payload.length === 0) return rejected(tunnelId, 'DATA without payload');
      if (payload.length > MAX_DATA_PAYLOAD) return rejected(tunnelId, `DATA payload of ${payload.length} bytes exceeds ${MAX_DATA_PAYLOAD}`);
      return { ok: true, frame: { kind: 'data', tunnelId, payload } };
    case FrameType.CLOSE:
      return { ok: true, frame: { kind: 'close', tunnelId } };
    case FrameType.ACK:
      if (payload.length !== 4) return rejected(tunnelId, `ACK payload of ${payload.length} bytes, expected 4`);
      return { ok: true, frame: { kind: 'ack', tunnelId, bytesAcked: be32(packet, 1 + HEADER_SIZE) } };
    case FrameType.ERROR: {
      if (payload.length < 1) return rejected(tunnelId, 'ERROR without a code');
      const description = utf8Lenient.decode(payload.subarray(1)).replace(/[\u0000-\u0008\u000b-\u001f\u007f]/g, '?');
      return { ok: true, frame: { kind: 'error', tunnelId, code: payload[0]!, description } };
    }
    case FrameType.PING:
      return { ok: true, frame: { kind: 'ping' } };
    case FrameType.PONG:
      return { ok: true, frame: { kind: 'pong' } };
    case FrameType.HELLO:
      if (payload.length < 5) return { ok: false, action: 'drop', tunnelId, reason: `HELLO payload of ${payload.length} bytes, expected at least 5` };
      // Bytes after the mask are for later versions: ignored.
      return { ok: true, frame: { kind: 'hello', version: payload[0]!, capabilities: be32(packet, 1 + HEADER_SIZE + 1) } };
    case FrameType.FIN:
      if (tunnelId === 0) return rejected(tunnelId, 'FIN on tunnel 0');
      return { ok: true, frame: { kind: 'fin', tunnelId } };
    case FrameType.REVERSE_LISTEN: {
      if (tunnelId === 0) return rejected(tunnelId, 'REVERSE_LISTEN with request id 0');
      if (payload.length < 3) return rejected(tunnelId, 'REVERSE_LISTEN shorter than port and bind length');
      const port = be16(packet, 1 + HEADER_SIZE);
      const bindLength = payload[2]!;
      if (3 + bindLength > payload.length) return rejected(tunnelId, `REVERSE_LISTEN bind length ${bindLength} overruns the payload`);
      if (port === 0) return rejected(tunnelId, 'REVERSE_LISTEN on port 0');
      const bind = hostText(payload.subarray(3, 3 + bindLength));
      if (typeof bind !== 'string') return rejected(tunnelId, `REVERSE_LISTEN bind address ${bind.problem}`);
      return { ok: true, frame: { kind: 'reverse-listen', requestId: tunnelId, port, bind } };
    }
    case FrameType.REVERSE_RESULT: {
      if (tunnelId === 0 || payload.length < 3) return { ok: false, action: 'drop', tunnelId, reason: 'malformed REVERSE_RESULT' };
      const message = utf8Lenient.decode(payload.subarray(3)).replace(/[\u0000-\u0008\u000b-\u001f\u007f]/g, '?');
      return { ok: true, frame: { kind: 'reverse-result', requestId: tunnelId, status: payload[0]!, port: be16(packet, 1 + HEADER_SIZE + 1), message } };
    }
    case FrameType.REVERSE_OPEN: {
      if (tunnelId === 0) return rejected(tunnelId, 'REVERSE_OPEN on tunnel 0');
      if (payload.length < 2) return rejected(tunnelId, 'REVERSE_OPEN without a request id');
      const requestId = be16(packet, 1 + HEADER_SIZE);
      if (requestId === 0) return rejected(tunnelId, 'REVERSE_OPEN for request id 0');
      return { ok: true, frame: { kind: 'reverse-open', tunnelId, requestId } };
    }
    case FrameType.REVERSE_CANCEL:
      if (tunnelId === 0) return { ok: false, action: 'drop', tunnelId, reason: 'REVERSE_CANCEL with request id 0' };
      return { ok: true, frame: { kind: 'reverse-cancel', requestId: tunnelId } };
    default:
      // Unknown types may come from a newer peer: drop (the existing implementation warns).
      return { ok: false, action: 'drop', tunnelId, reason: `unknown frame type 0x${type.toString(16).padStart(2, '0')}` };
  }
}

/** The frame is ours but malformed: ERROR back, unless it names tunnel 0 (then dropped). */
function rejected(tunnelId: number, reason: string): DecodeResult {
  return { ok: false, action: tunnelId === 0 ? 'drop' : 'reject', tunnelId, reason };
}

/** Big-endian integers of the packet (callers check the length first). */
function be16(packet: Uint8Array, at: number): number {
  return (packet[at]! << 8) | packet[at + 1]!;
}

function be32(packet: Uint8Array, at: number): number {
  return ((packet[at]! << 24) | (packet[at + 1]! << 16) | (packet[at + 2]! << 8) | packet[at + 3]!) >>> 0;
}
