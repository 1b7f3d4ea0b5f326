// SPDX-License-Identifier: GPL-3.0-or-later
/**
 * tuntox frames (its protocol V2; ../shared/TUNTOX.md §1, docs/tuntox.md). One frame per Tox
 * lossless custom packet, all integers big-endian:
 *
 *   offset 0  magic   u16  0xA26B (V2; 0xA26A was V1, spoken by every tagged release)
 *   offset 2  type    u16  PING 0x0108, PONG 0x0100, REQUESTTUNNEL 0x0602, ACKTUNNEL 0x0610,
 *                          DENYTUNNEL 0x0604 (defined, never sent by tuntox), TCP 0x0600,
 *                          TCP_FIN 0x0601
 *   offset 4  connid  u16  tunnel id (REQUESTTUNNEL: the target port; PING/PONG: 0)
 *   offset 6  length  u16  data bytes, 0..1365 (1373 - 8)
 *   offset 8  data
 *
 * Its first byte 0xA2 differs from our packet id 0xA0, so both protocols can share one friend
 * connection and a peer's protocol shows in its first packet. decodeTuntox never throws and
 * never allocates from a length the peer chose (data is a view into the packet).
 */
import { ToxtunnelError } from '../errors.ts';

export const TUNTOX_MAGIC = 0xa26b;
/** The magic of tuntox's protocol V1 (tagged releases up to 0.0.10.1): not compatible. */
export const TUNTOX_V1_MAGIC = 0xa26a;
export const TUNTOX_HEADER_SIZE = 8;
/** TOX_MAX_CUSTOM_PACKET_SIZE (1373) less the header. */
export const TUNTOX_MAX_DATA = 1365;

export const TuntoxType = {
  PONG: 0x0100,
  PING: 0x0108,
  TCP: 0x0600,
  TCP_FIN: 0x0601,
  REQUEST_TUNNEL: 0x0602,
  DENY_TUNNEL: 0x0604,
  ACK_TUNNEL: 0x0610,
} as const;

export interface TuntoxFrame {
  type: number;
  connid: number;
  /** Exactly `length` bytes (bytes after them in the packet are ignored, as tuntox does). */
  data: Uint8Array;
}

export type TuntoxDecodeResult = { ok: true; frame: TuntoxFrame } | { ok: false; reason: string };

/** True for a packet that belongs to tuntox (V2, or the incompatible V1): first bytes A2 6B / A2 6A. */
export function isTuntoxPacket(packet: Uint8Array): boolean {
  return packet.length >= 2 && packet[0] === 0xa2 && (packet[1] === 0x6b || packet[1] === 0x6a);
}

export function encodeTuntox(type: number, connid: number, data: Uint8Array = new Uint8Array(0)): Uint8Array {
  if (data.length > TUNTOX_MAX_DATA) throw new ToxtunnelError('FRAME_INVALID', `cannot encode a tuntox frame: ${data.length} data bytes exceed ${TUNTOX_MAX_DATA}`);
  if (!Number.isInteger(connid) || connid < 0 || connid > 0xffff) throw new ToxtunnelError('FRAME_INVALID', `cannot encode a tuntox frame: connid ${connid} is not 0..65535`);
  const out = new Uint8Array(TUNTOX_HEADER_SIZE + data.length);
  const view = new DataView(out.buffer);
  view.setUint16(0, TUNTOX_MAGIC);
  view.setUint16(2, type);
  view.setUint16(4, connid);
  view.setUint16(6, data.length);
  out.set(data, TUNTOX_HEADER_SIZE);
  return out;
}

/** tuntox's receive checks, in its order (TUNTOX.md §1): a failing packet is dropped. */
export function decodeTuntox(packet: Uint8Array): TuntoxDecodeResult {
  if (packet.length < TUNTOX_HEADER_SIZE) return { ok: false, reason: `tuntox packet of ${packet.length} bytes is shorter than its 8-byte header` };
  const view = new DataView(packet.buffer, packet.byteOffset, packet.byteLength);
  const magic = view.getUint16(0);
  if (magic === TUNTOX_V1_MAGIC) return { ok: false, reason: 'the peer runs tuntox protocol version 1 (a tagged release up to 0.0.10.1), which cannot talk to version 2' };
  if (magic !== TUNTOX_MAGIC) return { ok: false, reason: `magic 0x${magic.toString(16)} is not tuntox's 0xa26b` };
  const length = view.getUint16(6);
  if (length > packet.length - TUNTOX_HEADER_SIZE) return { ok: false, reason: `length ${length} exceeds the ${packet.length - TUNTOX_HEADER_SIZE} data bytes present` };
  if (length > TUNTOX_MAX_DATA) return { ok: false, reason: `length ${length} exceeds ${TUNTOX_MAX_DATA}` };
  return { ok: true, frame: { type: view.getUint16(2), connid: view.getUint16(4), data: packet.subarray(TUNTOX_HEADER_SIZE, TUNTOX_HEADER_SIZE + length) } };
}

const ascii = new TextEncoder();
const utf8Strict = new TextDecoder('utf-8', { fatal: true });

/** REQUESTTUNNEL: connid = target port; data = u32 forward id, then the host (no NUL). */
export function encodeRequest(port: number, forwardId: number, host: string): Uint8Array {
  const name = ascii.encode(host);
  const data = new Uint8Array(4 + name.length);
  new DataView(data.buffer).setUint32(0, forwardId >>> 0);
  data.set(name, 4);
  return encodeTuntox(TuntoxType.REQUEST_TUNNEL, port, data);
}

/**
 * The forward id and host of a REQUESTTUNNEL's data. tuntox copies the host up to the first
 * NUL; it does not check length >= 4 (and crashes): we refuse such requests.
 */
export function parseRequest(data: Uint8Array): { forwardId: number; host: string } | { problem: string } {
  if (data.length < 4) return { problem: `REQUESTTUNNEL data of ${data.length} bytes has no 4-byte forward id` };
  const forwardId = new DataView(data.buffer, data.byteOffset, data.byteLength).getUint32(0);
  let bytes = data.subarray(4);
  const nul = bytes.indexOf(0);
  if (nul >= 0) bytes = bytes.subarray(0, nul);
  if (bytes.length === 0) return { problem: 'REQUESTTUNNEL with an empty host' };
  if (bytes.length > 255) return { problem: `REQUESTTUNNEL host of ${bytes.length} bytes (at most 255)` };
  if (bytes.some((b) => b < 0x20 || b === 0x7f)) return { problem: 'REQUESTTUNNEL host contains control bytes' };
  try {
    return { forwardId, host: utf8Strict.decode(bytes) };
  } catch {
    return { problem: 'REQUESTTUNNEL host is not UTF-8' };
  }
}

/** A u32 big-endian forward id: ACKTUNNEL's data (the C client reads 4 bytes; needs length >= 3). */
export function forwardIdOf(data: Uint8Array): number | undefined {
  if (data.length < 4) return undefined;
  return new DataView(data.buffer, data.byteOffset, data.byteLength).getUint32(0);
}

export function encodeForwardId(type: number, connid: number, forwardId: number, text?: string): Uint8Array {
  const extra = text === undefined ? new Uint8Array(0) : ascii.encode(text).subarray(0, TUNTOX_MAX_DATA - 4);
  const data = new Uint8Array(4 + extra.length);
  new DataView(data.buffer).setUint32(0, forwardId >>> 0);
  data.set(extra, 4);
  return encodeTuntox(type, connid, data);
}

/** The active probe (TUNTOX.md §10): any V2 tuntox, client or server, answers it with a PONG. */
export const TUNTOX_PROBE = encodeTuntox(TuntoxType.PING, 0, ascii.encode('Hello'));
