// SPDX-License-Identifier: GPL-3.0-or-later
/**
 * The raw C functions of the wasm module (wasm/exports.txt lists the same names; a test checks
 * that the two agree). Only src/wasm/ and src/tox/tox-node.ts touch these: pointers are
 * branded numbers so a `Ptr<'Tox'>` cannot be passed where a byte buffer is expected.
 */
declare const brand: unique symbol;
export type Ptr<Kind extends string> = number & { readonly [brand]: Kind };
/** A pointer to bytes in wasm memory. */
export type BytePtr = Ptr<'u8'>;
/** A pointer to a 4-byte error enum out-parameter. */
export type ErrPtr = Ptr<'err'>;
export type ToxPtr = Ptr<'Tox'>;

/** C `bool` comes back as 0/1. */
type CBool = number;

export interface ToxcoreExports {
  memory: WebAssembly.Memory;
  malloc(size: number): number;
  free(ptr: number): void;

  tt_init(): number;
  tt_tox_new(
    node: number,
    ipv6: number,
    udp: number,
    localDiscovery: number,
    holePunching: number,
    startPort: number,
    endPort: number,
    tcpPort: number,
    /** Tox_Proxy_Type: 0 none, 1 HTTP, 2 SOCKS5. */
    proxyType: number,
    /** An IP literal (C string), or 0 without a proxy. */
    proxyHost: BytePtr | 0,
    proxyPort: number,
    savedata: BytePtr | 0,
    savedataLength: number,
    logEnabled: number,
    error: ErrPtr,
  ): ToxPtr | 0;
  /** Ours (wasm/tt_glue.c): one tox_iterate; returns tt_iteration_interval. */
  tt_tox_iterate(tox: ToxPtr, node: number): number;
  tox_kill(tox: ToxPtr): void;
  /** Ours (wasm/tt_glue.c): tox_iteration_interval without its scan for received files (we accept none). */
  tt_iteration_interval(tox: ToxPtr): number;

  tox_self_get_address(tox: ToxPtr, out: BytePtr): void;
  tox_self_get_public_key(tox: ToxPtr, out: BytePtr): void;
  tox_self_get_dht_id(tox: ToxPtr, out: BytePtr): void;
  tox_self_get_udp_port(tox: ToxPtr, error: ErrPtr): number;
  tox_self_get_tcp_port(tox: ToxPtr, error: ErrPtr): number;
  tox_self_get_connection_status(tox: ToxPtr): number;
  tox_self_get_nospam(tox: ToxPtr): number;
  tox_self_set_nospam(tox: ToxPtr, nospam: number): void;

  tox_bootstrap(tox: ToxPtr, host: BytePtr, port: number, publicKey: BytePtr, error: ErrPtr): CBool;
  tox_add_tcp_relay(tox: ToxPtr, host: BytePtr, port: number, publicKey: BytePtr, error: ErrPtr): CBool;

  tox_friend_add(tox: ToxPtr, address: BytePtr, message: BytePtr, length: number, error: ErrPtr): number;
  tox_friend_add_norequest(tox: ToxPtr, publicKey: BytePtr, error: ErrPtr): number;
  tox_friend_delete(tox: ToxPtr, friendNumber: number, error: ErrPtr): CBool;
  tox_friend_by_public_key(tox: ToxPtr, publicKey: BytePtr, error: ErrPtr): number;
  tox_friend_get_public_key(tox: ToxPtr, friendNumber: number, out: BytePtr, error: ErrPtr): CBool;
  tox_friend_get_connection_status(tox: ToxPtr, friendNumber: number, error: ErrPtr): number;
  tox_self_get_friend_list_size(tox: ToxPtr): number;
  tox_self_get_friend_list(tox: ToxPtr, out: Ptr<'u32'>): void;
  tox_friend_send_lossless_packet(tox: ToxPtr, friendNumber: number, data: BytePtr, length: number, error: ErrPtr): CBool;
  /** Ours (wasm/tt_glue.c): the same outside toxcore's congestion control; returns the error code. */
  tt_friend_send_lossless_uncontrolled(tox: ToxPtr, friendNumber: number, data: BytePtr, length: number): number;
  /** Ours (wasm/tt_glue.c): send our friend request again; 0 queued, 1 online, -1 no friend, -2 bad message. */
  tt_friend_rerequest(tox: ToxPtr, friendNumber: number, message: BytePtr, length: number): number;
  /** Ours (wasm/tt_glue.c): hear friend requests from this key again; 0 if it was remembered. */
  tt_forget_friend_request(tox: ToxPtr, publicKey: BytePtr): number;
  /** Ours (wasm/tt_glue.c, patch 0012): 1 when toxcore owes no peer a confirmation and misses no packet. */
  tt_tox_quiet(tox: ToxPtr): number;
  /** Ours (wasm/tt_glue.c, patch 0012): ms since the friend's connection last received a packet, -1 when not connected. */
  tt_friend_heard_ms(tox: ToxPtr, friendNumber: number): number;

  tox_get_savedata_size(tox: ToxPtr): number;
  tox_get_savedata(tox: ToxPtr, out: BytePtr): void;

  /** Ours (wasm/tt_connect.c): a friend's DHT key and direct address; -1 none, 0 key only, 1 both. */
  tt_friend_get_hint(tox: ToxPtr, friendNumber: number, dhtKey: BytePtr, address: BytePtr, addressSize: number, port: ErrPtr): number;
  /** Ours (wasm/tt_connect.c): reach a friend at a remembered DHT key (and address); 0 ok, 1 no friend, 2 bad address, 3 connected. */
  tt_friend_reach(tox: ToxPtr, node: number, friendNumber: number, dhtKey: BytePtr, address: BytePtr, port: number): number;
  /** Ours (wasm/tt_connect.c): answer (1) or not (0) a friend still calling our previous DHT key. */
  tt_answer_stale_calls(tox: ToxPtr, on: number): void;
  /** Ours (wasm/tt_connect.c): how many such calls were answered. */
  tt_stale_calls_answered(tox: ToxPtr): number;
  /** Ours (wasm/tt_connect.c): our onion data key (32 bytes), for invites. */
  tt_self_get_onion_key(tox: ToxPtr, out: BytePtr): void;
  /** Ours (wasm/tt_connect.c): our pending friend request straight to an address; 0 sent, 1 no friend, 2 bad address, 3 none pending, 4 not sent. */
  tt_friend_request_direct(tox: ToxPtr, friendNumber: number, onionKey: BytePtr, address: BytePtr, port: number): number;
  /** Ours (wasm/tt_glue.c, wasm/tt_box.c): 1 when packets are sealed by the SIMD box (it agreed with libsodium), 0 by libsodium. */
  tt_box_in_use(): number;
}

/** The names above, for the check against wasm/exports.txt. */
export const EXPORTED_FUNCTION_NAMES = [
  'malloc', 'free', 'tt_init', 'tt_tox_new', 'tt_tox_iterate', 'tox_kill', 'tt_iteration_interval',
  'tox_self_get_address', 'tox_self_get_public_key', 'tox_self_get_dht_id', 'tox_self_get_udp_port',
  'tox_self_get_tcp_port', 'tox_self_get_connection_status', 'tox_self_get_nospam', 'tox_self_set_nospam',
  'tox_bootstrap', 'tox_add_tcp_relay', 'tox_friend_add', 'tox_friend_add_norequest', 'tox_friend_delete',
  'tox_friend_by_public_key', 'tox_friend_get_public_key', 'tox_friend_get_connection_status',
  'tox_self_get_friend_list_size', 'tox_self_get_friend_list', 'tox_friend_send_lossless_packet',
  'tt_friend_send_lossless_uncontrolled', 'tt_friend_rerequest', 'tt_forget_friend_request', 'tt_tox_quiet', 'tt_friend_heard_ms', 'tox_get_savedata_size', 'tox_get_savedata',
  'tt_friend_get_hint', 'tt_friend_reach', 'tt_answer_stale_calls', 'tt_stale_calls_answered', 'tt_self_get_onion_key', 'tt_friend_request_direct',
  'tt_box_in_use',
] as const satisfies readonly (keyof ToxcoreExports)[];
