// SPDX-License-Identifier: GPL-3.0-or-later
/**
 * Server side of the SOCKS5 handshake: RFC 1928 (CONNECT only) and RFC 1929
 * (username/password). All integers big-endian.
 *
 *   client greeting      VER=5 | NMETHODS (1..255) | METHODS (NMETHODS bytes)
 *   server method choice VER=5 | METHOD   0x00 no auth, 0x02 username/password, 0xFF none acceptable
 *
 *   RFC 1929 (only if method 0x02 was chosen):
 *   client auth request  VER=1 | ULEN | UNAME (ULEN bytes) | PLEN | PASSWD (PLEN bytes)
 *   server auth reply    VER=1 | STATUS   0x00 success, anything else failure (we send 0x01 and close)
 *
 *   client request       VER=5 | CMD | RSV=0 | ATYP | DST.ADDR | DST.PORT (2 bytes)
 *                        CMD 1 CONNECT (2 BIND and 3 UDP ASSOCIATE are refused with 0x07)
 *                        ATYP 1: 4 bytes IPv4 | 3: LEN (1..255) + LEN bytes of name | 4: 16 bytes IPv6
 *   server reply         VER=5 | REP | RSV=0 | ATYP=1 | BND.ADDR=0.0.0.0 | BND.PORT=0   (10 bytes)
 *
 * A SOCKS4 client gets the SOCKS4 rejection (VN=0 CD=0x5B, 8 bytes) so it can report something
 * meaningful; any other version is closed without a reply.
 *
 * The socket arrives paused (server created with pauseOnConnect: true, allowHalfOpen: true).
 * acceptSocks5 reads it with 'data' events, keeping only the bytes of the message being parsed
 * (at most a few hundred: a greeting is <= 257 bytes, an auth request <= 513, a request <= 262).
 * Whatever follows the CONNECT request (a client that pipelines its first data) is pushed back
 * with socket.unshift(), and the socket is handed over PAUSED with every listener we added
 * removed: the caller attaches its own 'error' and data handling, then resumes (or pipes).
 */
import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import type { Socket } from 'node:net';
import { ToxtunnelError } from '../errors.ts';
import { ipBytesToString } from '../net/ip-bytes.ts';

/** REP values of the server reply (RFC 1928 section 6). */
export const SocksReply = {
  SUCCEEDED: 0x00,
  GENERAL_FAILURE: 0x01,
  NOT_ALLOWED: 0x02,
  NETWORK_UNREACHABLE: 0x03,
  HOST_UNREACHABLE: 0x04,
  CONNECTION_REFUSED: 0x05,
  TTL_EXPIRED: 0x06,
  COMMAND_NOT_SUPPORTED: 0x07,
  ADDRESS_TYPE_NOT_SUPPORTED: 0x08,
} as const;

export interface SocksOptions {
  /** When set, clients must authenticate with exactly these (RFC 1929); otherwise no auth. */
  credentials?: { username: string; password: string };
  /** Time allowed from the call until the CONNECT request is complete. Default 10000 ms. */
  handshakeTimeoutMs?: number;
}

export interface SocksRequest {
  /** Domain name as the client sent it, IPv4 dotted quad, or IPv6 text without brackets. */
  host: string;
  /** 1..65535 */
  port: number;
  /**
   * Sends the reply (BND.ADDR 0.0.0.0, BND.PORT 0). A non-zero code (a SocksReply value) also
   * ends the socket. Call it exactly once.
   */
  reply(code: number): void;
}

export const DEFAULT_HANDSHAKE_TIMEOUT_MS = 10_000;
/** Bytes we are willing to hold for one unfinished handshake message (the largest is 513). */
export const MAX_HANDSHAKE_BYTES = 600;
/** After a failure we end our side; a client that never closes its side is destroyed after this. */
const LINGER_MS = 2_000;

const SOCKS_VERSION = 5;
const AUTH_VERSION = 1;
const METHOD_NO_AUTH = 0x00;
const METHOD_USERNAME_PASSWORD = 0x02;
const METHOD_NONE_ACCEPTABLE = 0xff;
const CMD_CONNECT = 0x01;
const ATYP_IPV4 = 0x01;
const ATYP_DOMAIN = 0x03;
const ATYP_IPV6 = 0x04;

const COMMAND_NAMES: Readonly<Record<number, string>> = { 1: 'CONNECT', 2: 'BIND', 3: 'UDP ASSOCIATE' };
const METHOD_NAMES: Readonly<Record<number, string>> = { 0: 'no authentication', 1: 'GSSAPI', 2: 'username/password' };
/** SOCKS4 reply "request rejected or failed": VN=0, CD=0x5B, DSTPORT and DSTIP zero. */
const SOCKS4_REJECTED = Buffer.from([0x00, 0x5b, 0, 0, 0, 0, 0, 0]);

/**
 * Credentials are compared as HMACs under a random per-process key: both digests have the same
 * length whatever the inputs, so timingSafeEqual applies and neither the content nor the length
 * of the configured secret shows in the timing.
 */
const HMAC_KEY = randomBytes(32);
const digest = (value: Uint8Array): Buffer => createHmac('sha256', HMAC_KEY).update(value).digest();

function replyBytes(code: number): Buffer {
  return Buffer.from([SOCKS_VERSION, code, 0x00, ATYP_IPV4, 0, 0, 0, 0, 0, 0]);
}

const hex = (n: number) => `0x${n.toString(16).padStart(2, '0')}`;
const methodName = (m: number) => METHOD_NAMES[m] ?? `method ${hex(m)}`;
const strictUtf8 = new TextDecoder('utf-8', { fatal: true });

/** A handshake that cannot go on: the error to reject with and what to send before closing. */
class HandshakeFailure {
  constructor(
    readonly code: 'SOCKS_PROTOCOL' | 'SOCKS_AUTH_FAILED' | 'SOCKS_UNSUPPORTED',
    readonly message: string,
    /** Sent before ending the socket; null: end without a reply. */
    readonly reply: Buffer | null,
  ) {}
}

type Stage = 'greeting' | 'auth' | 'request';
const STAGE_TEXT: Record<Stage, string> = {
  greeting: 'waiting for the greeting',
  auth: 'waiting for the username/password request',
  request: 'waiting for the CONNECT request',
};

/**
 * Ends our side of a socket we gave up on, after `bytes` if given, and makes sure it goes away:
 * whatever the client still sends is discarded (so its FIN is seen and, half-open allowed or not,
 * the socket closes), errors from here on are expected and ignored, and a client that keeps its
 * side open is destroyed after LINGER_MS.
 */
function closeGracefully(socket: Socket, bytes?: Uint8Array): void {
  socket.on('error', () => {});
  if (socket.destroyed) return;
  const timer = setTimeout(() => socket.destroy(), LINGER_MS);
  timer.unref();
  socket.once('close', () => clearTimeout(timer));
  if (bytes && socket.writable) socket.end(bytes);
  else socket.end();
  socket.resume();
}

/** Closes a socket at once (timeout, socket error), ignoring any error it still reports. */
function abandon(socket: Socket): void {
  socket.on('error', () => {});
  socket.destroy();
}

/**
 * Reads the greeting, negotiates authentication, reads one CONNECT request. Resolves with the
 * request, the socket paused and free of our listeners (pipelined bytes unshifted back).
 * Rejects with a ToxtunnelError — SOCKS_PROTOCOL (malformed input, client closed or socket
 * error), SOCKS_AUTH_FAILED, SOCKS_UNSUPPORTED (SOCKS4, BIND, UDP ASSOCIATE, unknown address
 * type or method) or SOCKS_TIMEOUT — after having sent the proper failure reply and closed the
 * socket.
 */
export function acceptSocks5(socket: Socket, options: SocksOptions = {}): Promise<SocksRequest> {
  const credentials = options.credentials;
  const timeoutMs = options.handshakeTimeoutMs ?? DEFAULT_HANDSHAKE_TIMEOUT_MS;
  const peer = { remoteAddress: socket.remoteAddress, remotePort: socket.remotePort };
  // Digests of the configured credentials, computed once per handshake (not per byte read).
  const expected = credentials && {
    username: digest(Buffer.from(credentials.username, 'utf8')),
    password: digest(Buffer.from(credentials.password, 'utf8')),
  };

  return new Promise<SocksRequest>((resolve, reject) => {
    let stage: Stage = 'greeting';
    /** Unparsed bytes: the beginning of the current message (and, at the end, pipelined data). */
    let buffered: Buffer = Buffer.alloc(0);
    let received = 0;
    let settled = false;

    const error = (code: string, message: string, cause?: unknown) =>
      new ToxtunnelError(code, message, { ...peer, stage }, cause === undefined ? undefined : { cause });

    const detach = () => {
      settled = true;
      clearTimeout(timer);
      socket.off('data', onData);
      socket.off('end', onEnd);
      socket.off('close', onClose);
      socket.off('error', onError);
    };

    const fail = (failure: HandshakeFailure) => {
      detach();
      closeGracefully(socket, failure.reply ?? undefined);
      reject(error(failure.code, failure.message));
    };

    // --- the three messages; each returns the bytes it consumed, 0 while incomplete ---

    const parseGreeting = (b: Buffer): number => {
      if (b.length < 1) return 0;
      const version = b[0]!;
      // Judge the version on the first byte, so a SOCKS4 or HTTP client is told at once.
      if (version === 4) {
        throw new HandshakeFailure(
          'SOCKS_UNSUPPORTED',
          'SOCKS version 4 is not supported, only 5 (configure the client for SOCKS5, e.g. curl --socks5-hostname)',
          SOCKS4_REJECTED,
        );
      }
      if (version !== SOCKS_VERSION) {
        const looksLikeText = version >= 0x41 && version <= 0x5a; // 'A'..'Z': GET, CONNECT, POST…
        throw new HandshakeFailure(
          'SOCKS_PROTOCOL',
          looksLikeText
            ? `not a SOCKS request: it starts with ${JSON.stringify(b.subarray(0, 8).toString('latin1'))}; is the client using this SOCKS5 port as an HTTP proxy?`
            : `SOCKS version ${version} is not supported, only 5`,
          null,
        );
      }
      if (b.length < 2) return 0;
      const count = b[1]!;
      if (count === 0) {
        throw new HandshakeFailure(
          'SOCKS_PROTOCOL',
          'the SOCKS5 greeting lists no authentication methods (NMETHODS is 0)',
          Buffer.from([SOCKS_VERSION, METHOD_NONE_ACCEPTABLE]),
        );
      }
      if (b.length < 2 + count) return 0;
      const offered = [...b.subarray(2, 2 + count)];
      const wanted = credentials ? METHOD_USERNAME_PASSWORD : METHOD_NO_AUTH;
      if (!offered.includes(wanted)) {
        const list = [...new Set(offered)].map(methodName).join(', ');
        throw new HandshakeFailure(
          credentials ? 'SOCKS_AUTH_FAILED' : 'SOCKS_UNSUPPORTED',
          credentials
            ? `the SOCKS5 client offered ${list} but this listener requires username/password authentication`
            : `the SOCKS5 client offered only ${list}; this listener accepts only no authentication (no credentials are configured)`,
          Buffer.from([SOCKS_VERSION, METHOD_NONE_ACCEPTABLE]),
        );
      }
      socket.write(Buffer.from([SOCKS_VERSION, wanted]));
      stage = credentials ? 'auth' : 'request';
      return 2 + count;
    };

    const parseAuth = (b: Buffer): number => {
      const authFailed = Buffer.from([AUTH_VERSION, 0x01]);
      if (b.length < 1) return 0;
      if (b[0] !== AUTH_VERSION) {
        throw new HandshakeFailure(
          'SOCKS_PROTOCOL',
          `username/password sub-negotiation version ${b[0]} is not supported, only 1 (RFC 1929)`,
          authFailed,
        );
      }
      if (b.length < 2) return 0;
      const userLength = b[1]!;
      if (b.length < 3 + userLength) return 0;
      const passwordLength = b[2 + userLength]!;
      const total = 3 + userLength + passwordLength;
      if (b.length < total) return 0;
      const username = b.subarray(2, 2 + userLength);
      const password = b.subarray(3 + userLength, total);
      // Both comparisons always run (no short-circuit), on fixed-length digests.
      const userOk = timingSafeEqual(digest(username), expected!.username);
      const passwordOk = timingSafeEqual(digest(password), expected!.password);
      if (!(userOk && passwordOk)) {
        // Never echo the password; the username (JSON-quoted) helps the operator.
        throw new HandshakeFailure(
          'SOCKS_AUTH_FAILED',
          `SOCKS5 username/password authentication failed for user ${JSON.stringify(username.toString('utf8'))}`,
          authFailed,
        );
      }
      socket.write(Buffer.from([AUTH_VERSION, 0x00]));
      stage = 'request';
      return total;
    };

    const parseRequest = (b: Buffer): { consumed: number; host: string; port: number } | null => {
      const generalFailure = replyBytes(SocksReply.GENERAL_FAILURE);
      if (b.length < 4) return null;
      if (b[0] !== SOCKS_VERSION) {
        throw new HandshakeFailure('SOCKS_PROTOCOL', `SOCKS request version ${b[0]} is not supported, only 5`, generalFailure);
      }
      const command = b[1]!;
      if (command !== CMD_CONNECT) {
        throw new HandshakeFailure(
          'SOCKS_UNSUPPORTED',
          `SOCKS command ${COMMAND_NAMES[command] ?? hex(command)} is not supported, only CONNECT`,
          replyBytes(SocksReply.COMMAND_NOT_SUPPORTED),
        );
      }
      // b[2] is RSV; RFC 1928 says 0x00, we do not insist.
      const addressType = b[3]!;
      let start: number;
      let length: number;
      if (addressType === ATYP_IPV4) [start, length] = [4, 4];
      else if (addressType === ATYP_IPV6) [start, length] = [4, 16];
      else if (addressType === ATYP_DOMAIN) {
        if (b.length < 5) return null;
        [start, length] = [5, b[4]!];
        if (length === 0) throw new HandshakeFailure('SOCKS_PROTOCOL', 'SOCKS request with an empty domain name', generalFailure);
      } else {
        throw new HandshakeFailure(
          'SOCKS_UNSUPPORTED',
          `SOCKS address type ${hex(addressType)} is not supported, only 0x01 (IPv4), 0x03 (domain name) and 0x04 (IPv6)`,
          replyBytes(SocksReply.ADDRESS_TYPE_NOT_SUPPORTED),
        );
      }
      const total = start + length + 2;
      if (b.length < total) return null;
      const address = b.subarray(start, start + length);
      const port = b.readUInt16BE(start + length);
      let host: string;
      if (addressType === ATYP_DOMAIN) {
        try {
          host = strictUtf8.decode(address);
        } catch {
          throw new HandshakeFailure('SOCKS_PROTOCOL', 'SOCKS request domain name is not valid UTF-8', generalFailure);
        }
        // Same rule as the OPEN frame: control characters (NUL above all) never reach a resolver.
        if (/[\u0000-\u001f\u007f]/.test(host)) {
          throw new HandshakeFailure('SOCKS_PROTOCOL', `SOCKS request domain name ${JSON.stringify(host)} contains control characters`, generalFailure);
        }
      } else {
        host = ipBytesToString(address);
      }
      if (port === 0) {
        throw new HandshakeFailure('SOCKS_PROTOCOL', `SOCKS CONNECT request for ${host} port 0; ports are 1..65535`, generalFailure);
      }
      return { consumed: total, host, port };
    };

    // --- handing the socket over ---

    const succeed = (host: string, port: number) => {
      detach();
      socket.pause();
      if (buffered.length > 0) socket.unshift(buffered);
      buffered = Buffer.alloc(0);
      let replied = false;
      resolve({
        host,
        port,
        reply(code: number) {
          if (!Number.isInteger(code) || code < 0 || code > 0xff) {
            throw new RangeError(`SOCKS reply code must be an integer 0..255, got ${code}`);
          }
          if (replied) throw new Error('SocksRequest.reply() called twice');
          replied = true;
          if (code !== SocksReply.SUCCEEDED) closeGracefully(socket, replyBytes(code));
          else if (!socket.destroyed && socket.writable) socket.write(replyBytes(code));
        },
      });
    };

    // --- events ---

    function onData(chunk: Buffer) {
      if (settled) return;
      received += chunk.length;
      buffered = buffered.length === 0 ? chunk : Buffer.concat([buffered, chunk]);
      try {
        // One chunk may hold several messages (a client that does not wait for our answers).
        for (;;) {
          if (stage === 'request') {
            const request = parseRequest(buffered);
            if (!request) break;
            buffered = buffered.subarray(request.consumed);
            succeed(request.host, request.port);
            return;
          }
          const consumed = stage === 'greeting' ? parseGreeting(buffered) : parseAuth(buffered);
          if (consumed === 0) break;
          buffered = buffered.subarray(consumed);
        }
        // An unfinished message never needs this much; refuse to hold more.
        if (buffered.length > MAX_HANDSHAKE_BYTES) {
          throw new HandshakeFailure(
            'SOCKS_PROTOCOL',
            `SOCKS5 handshake message longer than ${MAX_HANDSHAKE_BYTES} bytes`,
            stage === 'request' ? replyBytes(SocksReply.GENERAL_FAILURE) : null,
          );
        }
      } catch (thrown) {
        if (thrown instanceof HandshakeFailure) fail(thrown);
        else throw thrown;
      }
    }

    function onEnd() {
      if (settled) return;
      fail(new HandshakeFailure('SOCKS_PROTOCOL', `the client closed the connection during the SOCKS5 handshake (${STAGE_TEXT[stage]}, after ${received} bytes)`, null));
    }

    function onClose() {
      if (settled) return;
      detach();
      abandon(socket);
      reject(error('SOCKS_PROTOCOL', `the connection closed during the SOCKS5 handshake (${STAGE_TEXT[stage]}, after ${received} bytes)`));
    }

    function onError(cause: Error) {
      if (settled) return;
      detach();
      abandon(socket); // normally already destroyed by the error
      reject(error('SOCKS_PROTOCOL', `socket error during the SOCKS5 handshake (${STAGE_TEXT[stage]}): ${cause.message}`, cause));
    }

    const timer = setTimeout(() => {
      if (settled) return;
      detach();
      abandon(socket);
      reject(error('SOCKS_TIMEOUT', `SOCKS5 handshake not completed within ${timeoutMs} ms (${STAGE_TEXT[stage]}, ${received} bytes received)`));
    }, timeoutMs);

    if (socket.destroyed) {
      detach();
      reject(error('SOCKS_PROTOCOL', 'the connection was already closed before the SOCKS5 handshake'));
      return;
    }
    socket.on('data', onData);
    socket.on('end', onEnd);
    socket.on('close', onClose);
    socket.on('error', onError);
    socket.resume();
  });
}
