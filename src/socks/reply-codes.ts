// SPDX-License-Identifier: GPL-3.0-or-later
/**
 * Which SOCKS5 reply a failed tunnel gets. The protocol's TUNNEL_ERROR codes are overloaded
 * (1 "Access denied" / "Tunnel not found", 2 "DNS resolution failed" / "Tunnel ID in use",
 * 3 "TCP connect failed: …" / "Tunnel limit exceeded"), so the code picks the family and the
 * text (the errno the server saw) the exact reply. Never a false "succeeded".
 */
import { ErrorCode } from '../protocol/frame.ts';
import { SocksReply } from './socks5.ts';

export function socksReplyFor(message: string, peerErrorCode: number | undefined): number {
  const text = message.toLowerCase();
  if (peerErrorCode === ErrorCode.ACCESS_DENIED_OR_NOT_FOUND) return text.includes('denied') ? SocksReply.NOT_ALLOWED : SocksReply.GENERAL_FAILURE;
  if (peerErrorCode === ErrorCode.DNS_FAILED_OR_ID_IN_USE) return text.includes('dns') ? SocksReply.HOST_UNREACHABLE : SocksReply.GENERAL_FAILURE;
  if (peerErrorCode === ErrorCode.CONNECT_FAILED_OR_LIMIT) {
    if (text.includes('econnrefused')) return SocksReply.CONNECTION_REFUSED;
    if (text.includes('enetunreach')) return SocksReply.NETWORK_UNREACHABLE;
    if (text.includes('ehostunreach')) return SocksReply.HOST_UNREACHABLE;
    if (text.includes('etimedout') || text.includes('timed out')) return SocksReply.TTL_EXPIRED;
    return SocksReply.GENERAL_FAILURE;
  }
  // Not the server's answer: offline, no answer in time, shutting down.
  return SocksReply.GENERAL_FAILURE;
}
