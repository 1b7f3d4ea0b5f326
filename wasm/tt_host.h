/* SPDX-License-Identifier: GPL-3.0-or-later
 * toxtunnel: the narrow host interface between toxcore (in WebAssembly) and JavaScript.
 *
 * Everything toxcore needs from the operating system that emscripten cannot give it
 * (sockets, randomness) is one of these imports. They are implemented in TypeScript
 * (src/wasm/host.ts) and reach the wasm through wasm/library_tt_host.js.
 *
 * Convention: a result >= 0 is success; a negative result is -TT_E_*, a symbolic error
 * code that tt_network.c turns into the errno value toxcore expects. (errno numbers inside
 * emscripten are WASI numbers, not Linux ones, so numbers never cross the boundary.)
 * Keep TT_E_* in sync with src/wasm/host-errors.ts (a test checks).
 */
#ifndef TT_HOST_H
#define TT_HOST_H

#include <stddef.h>
#include <stdint.h>

#define TT_E_WOULDBLOCK 1
#define TT_E_INPROGRESS 2
#define TT_E_ADDRINUSE 3
#define TT_E_CONNREFUSED 4
#define TT_E_CONNRESET 5
#define TT_E_NOTCONN 6
#define TT_E_BADF 7
#define TT_E_INVAL 8
#define TT_E_AFNOSUPPORT 9
#define TT_E_NETUNREACH 10
#define TT_E_ADDRNOTAVAIL 11
#define TT_E_MSGSIZE 12
#define TT_E_ACCES 13

/* Address families and socket types as the host sees them. */
#define TT_AF_INET 4
#define TT_AF_INET6 6
#define TT_SOCK_STREAM 1
#define TT_SOCK_DGRAM 2

/* Socket options the host acts on (all others succeed without effect). */
#define TT_OPT_BROADCAST 1
#define TT_OPT_JOIN_FF02_1 2
#define TT_OPT_RCVBUF 3
#define TT_OPT_SNDBUF 4

/* Sockets. Addresses cross as (family, pointer to 4 or 16 address bytes, port in host order). */
extern int tt_host_socket(int family, int type);
extern int tt_host_close(int fd);
extern int tt_host_bind(int fd, int family, const uint8_t *ip, int port);
extern int tt_host_listen(int fd);
extern int tt_host_accept(int fd);
extern int tt_host_connect(int fd, int family, const uint8_t *ip, int port);
extern int tt_host_recvbuf(int fd);
extern int tt_host_recv(int fd, uint8_t *buf, size_t len);
/* addr_out: [family:1][ip:16][port:2 host order, little endian] */
extern int tt_host_recvfrom(int fd, uint8_t *buf, size_t len, uint8_t *addr_out);
extern int tt_host_send(int fd, const uint8_t *buf, size_t len);
extern int tt_host_sendto(int fd, const uint8_t *buf, size_t len, int family, const uint8_t *ip, int port);
/* value: the option's int argument (buffer sizes), 0 where there is none */
extern int tt_host_setsockopt(int fd, int option, int value);

/* Randomness: fill buf with len bytes from the host CSPRNG (crypto.getRandomValues). */
extern void tt_host_random(uint8_t *buf, size_t len);

/* Events from toxcore, delivered during tox_iterate. `node` is the id the TypeScript side
 * gave to tt_tox_new; packets and strings are only valid during the call. */
extern void tt_event_self_connection(int node, int status);
extern void tt_event_friend_request(int node, const uint8_t *public_key, const uint8_t *message, size_t length);
extern void tt_event_friend_connection(int node, uint32_t friend_number, int status);
extern void tt_event_friend_lossless_packet(int node, uint32_t friend_number, const uint8_t *data, size_t length);
extern void tt_event_log(int node, int level, const char *file, uint32_t line, const char *func, const char *message);

#endif /* TT_HOST_H */
