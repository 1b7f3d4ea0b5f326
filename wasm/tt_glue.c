/* SPDX-License-Identifier: GPL-3.0-or-later
 * toxtunnel: the C side of the TypeScript binding.
 *
 * - Randomness: libsodium (and through it toxcore's os_random) draws every random byte from
 *   the host CSPRNG (crypto.getRandomValues) via tt_host_random. There is no fallback: if the
 *   host has no CSPRNG, loading the module fails in TypeScript before any key is made.
 * - tt_tox_new: builds Tox_Options from plain arguments (no struct layout crosses the
 *   boundary) and registers the callbacks below, which forward to tt_event_* imports.
 *   toxcore's user_data for tox_iterate is the TypeScript node id, cast to a pointer.
 */
#include <sodium.h>
#include <stdint.h>
#include <string.h>

#include "../toxcore-submodule/toxcore/logger.h"
#include "../toxcore-submodule/toxcore/tox.h"
#include "../toxcore-submodule/toxcore/tox_struct.h"
#include "tt_box.h"
#include "tt_host.h"

void tt_connect_init(Tox *tox); /* wasm/tt_connect.c */

/* --- randomness ---------------------------------------------------------------------------- */

static const char *tt_random_name(void) { return "toxtunnel-host-csprng"; }

static uint32_t tt_random_u32(void)
{
    uint32_t value;
    tt_host_random((uint8_t *)&value, sizeof(value));
    return value;
}

static void tt_random_buf(void *const buf, const size_t size)
{
    tt_host_random((uint8_t *)buf, size);
}

static randombytes_implementation tt_randombytes = {
    tt_random_name, tt_random_u32, NULL /* stir */, NULL /* uniform: libsodium derives it */,
    tt_random_buf, NULL /* close */,
};

/* Returns 0 on success. Must run before any other call. */
int tt_init(void)
{
    if (randombytes_set_implementation(&tt_randombytes) != 0) {
        return -1;
    }
    if (sodium_init() < 0) {
        return -1;
    }
    tt_box_self_test(); /* the SIMD packet box only if it agrees with libsodium (wasm/tt_box.c) */
    return 0;
}

/* 1 when packets are sealed and opened by the SIMD box (it agreed with libsodium at tt_init),
 * 0 when by libsodium. For tests. */
int tt_box_in_use(void)
{
    return tt_box_self_test();
}

/* --- events -------------------------------------------------------------------------------- */

static int node_of(void *user_data) { return (int)(intptr_t)user_data; }

static void on_self_connection(Tox *tox, Tox_Connection status, void *user_data)
{
    tt_event_self_connection(node_of(user_data), (int)status);
}

static void on_friend_request(Tox *tox, const uint8_t *public_key, const uint8_t *message, size_t length, void *user_data)
{
    tt_event_friend_request(node_of(user_data), public_key, message, length);
}

static void on_friend_connection(Tox *tox, Tox_Friend_Number friend_number, Tox_Connection status, void *user_data)
{
    tt_event_friend_connection(node_of(user_data), friend_number, (int)status);
}

static void on_friend_lossless_packet(Tox *tox, Tox_Friend_Number friend_number, const uint8_t *data, size_t length, void *user_data)
{
    tt_event_friend_lossless_packet(node_of(user_data), friend_number, data, length);
}

static void on_log(Tox *tox, Tox_Log_Level level, const char *file, uint32_t line, const char *func, const char *message, void *user_data)
{
    tt_event_log(node_of(user_data), (int)level, file, line, func, message);
}

/* --- node ---------------------------------------------------------------------------------- */

/* Creates a node. savedata may be NULL (new identity). log_node < 0 disables toxcore's log
 * callback (it formats every trace line, so only enable it when asked). proxy_type is a
 * Tox_Proxy_Type (0 none, 1 HTTP, 2 SOCKS5); proxy_host must then be an IP literal (DNS is
 * off): toxcore connects every TCP socket to it and does the HTTP CONNECT or SOCKS5 handshake
 * itself (TCP_client.c), so the host socket layer only ever sees connects to the proxy.
 * *error receives Tox_Err_New (or Tox_Err_Options_New + 100 if the options could not be
 * allocated). */
Tox *tt_tox_new(int node, int ipv6, int udp, int local_discovery, int hole_punching,
                int start_port, int end_port, int tcp_port,
                int proxy_type, const char *proxy_host, int proxy_port,
                const uint8_t *savedata, size_t savedata_length, int log_enabled, int *error)
{
    Tox_Err_Options_New options_error;
    Tox_Options *options = tox_options_new(&options_error);
    if (options == NULL) {
        *error = 100 + (int)options_error;
        return NULL;
    }
    tox_options_set_ipv6_enabled(options, ipv6 != 0);
    tox_options_set_udp_enabled(options, udp != 0);
    tox_options_set_local_discovery_enabled(options, local_discovery != 0);
    tox_options_set_hole_punching_enabled(options, hole_punching != 0);
    tox_options_set_start_port(options, (uint16_t)start_port);
    tox_options_set_end_port(options, (uint16_t)end_port);
    tox_options_set_tcp_port(options, (uint16_t)tcp_port);
    /* Names are resolved by the TypeScript side; toxcore must not try getaddrinfo. */
    tox_options_set_experimental_disable_dns(options, true);
    if (proxy_type != TOX_PROXY_TYPE_NONE) {
        tox_options_set_proxy_type(options, (Tox_Proxy_Type)proxy_type);
        tox_options_set_proxy_host(options, proxy_host); /* copied by tox_new, not kept */
        tox_options_set_proxy_port(options, (uint16_t)proxy_port);
    }
    if (savedata != NULL && savedata_length > 0) {
        tox_options_set_savedata_type(options, TOX_SAVEDATA_TYPE_TOX_SAVE);
        tox_options_set_savedata_data(options, savedata, savedata_length);
    }
    if (log_enabled) {
        tox_options_set_log_callback(options, on_log);
        tox_options_set_log_user_data(options, (void *)(intptr_t)node);
    }

    Tox_Err_New new_error;
    Tox *tox = tox_new(options, &new_error);
    tox_options_free(options);
    *error = (int)new_error;
    if (tox == NULL) {
        return NULL;
    }

    if (!log_enabled) {
        /* tox_new always installs its own log handler, which hands each line to the user's
         * callback if there is one: so every LOGGER_* call formatted its message (vsnprintf)
         * even with nobody listening. The busiest is write_cryptpacket's "rejecting packet"
         * on every SENDQ refusal: 80 ms of a sender's CPU per 100 MB. Without a handler
         * logger_write returns before formatting. */
        logger_callback_log(tox->log, NULL, NULL, NULL);
    }

    tt_connect_init(tox); /* wasm/tt_connect.c */
    tox_callback_self_connection_status(tox, on_self_connection);
    tox_callback_friend_request(tox, on_friend_request);
    tox_callback_friend_connection_status(tox, on_friend_connection);
    tox_callback_friend_lossless_packet(tox, on_friend_lossless_packet);
    return tox;
}

#include "../toxcore-submodule/toxcore/Messenger.h"

/* tox_iteration_interval without its file-transfer scan. tox.c answers 1 ms while a file is
 * being received, and finds out by walking every friend's 256 receiving slots
 * (m_is_receiving_file, Messenger.c: friends x 256 strided loads per call, ~3 % of the CPU of
 * a server with 15 friends). A receiving slot only becomes FILESTATUS_TRANSFERRING when we
 * accept the transfer (m_file_control, FILECONTROL_ACCEPT on an inbound file); toxtunnel never
 * does (tox_file_control is not even exported), so the scan always finds nothing and the
 * answer is messenger_run_interval's. */
uint32_t tt_iteration_interval(const Tox *tox)
{
    return messenger_run_interval(tox->m);
}

/* One iteration; events for this node arrive through the tt_event_* imports meanwhile.
 * Returns the milliseconds until the next is due (tt_iteration_interval): one call across the
 * boundary per iteration instead of two. */
uint32_t tt_tox_iterate(Tox *tox, int node)
{
    tox_iterate(tox, (void *)(intptr_t)node);
    return tt_iteration_interval(tox);
}

/* --- sends outside toxcore's congestion control ------------------------------------------- */

#include "../toxcore-submodule/toxcore/friend_connection.h"
#include "../toxcore-submodule/toxcore/net_crypto.h"

/* Like tox_friend_send_lossless_packet, but with congestion_control = false in
 * write_cryptpacket: the packet joins the same ordered, retransmitted stream, but is not
 * refused when the connection's send budget (packets_left) is empty, so an ACK, PONG or CLOSE
 * does not wait for the next refill of that budget. The TypeScript side uses it only for
 * control frames (never DATA) of at most SMALL_PACKET_BYTES, within a rate budget of its own
 * (src/tunnel/friend-link.ts: trySend, takeBudget). Still bounded by toxcore's send buffer:
 * SENDQ when that is full. Returns a Tox_Err_Friend_Custom_Packet code. */
int tt_friend_send_lossless_uncontrolled(Tox *tox, uint32_t friend_number, const uint8_t *data, size_t length)
{
    const Messenger *m = tox->m;
    if (!m_friend_exists(m, (int32_t)friend_number)) return TOX_ERR_FRIEND_CUSTOM_PACKET_FRIEND_NOT_FOUND;
    if (length == 0) return TOX_ERR_FRIEND_CUSTOM_PACKET_EMPTY;
    if (length > MAX_CRYPTO_DATA_SIZE) return TOX_ERR_FRIEND_CUSTOM_PACKET_TOO_LONG;
    if (data[0] < PACKET_ID_RANGE_LOSSLESS_CUSTOM_START || data[0] > PACKET_ID_RANGE_LOSSLESS_CUSTOM_END) {
        return TOX_ERR_FRIEND_CUSTOM_PACKET_INVALID;
    }
    if (m->friendlist[friend_number].status != FRIEND_ONLINE) return TOX_ERR_FRIEND_CUSTOM_PACKET_FRIEND_NOT_CONNECTED;
    const int crypt_id = friend_connection_crypt_connection_id(m->fr_c, m->friendlist[friend_number].friendcon_id);
    if (write_cryptpacket(m->net_crypto, crypt_id, data, (uint16_t)length, false) == -1) {
        return TOX_ERR_FRIEND_CUSTOM_PACKET_SENDQ;
    }
    return TOX_ERR_FRIEND_CUSTOM_PACKET_OK;
}

/* --- asking a friend again ------------------------------------------------------------------ */

/* Makes toxcore send our friend request to a friend again, with `message` (the shared
 * secret), as if it had just been added: status back to FRIEND_ADDED and the request timeout
 * back to FRIENDREQUEST_TIMEOUT (5 s; do_friends re-sends it through the onion, doubling the
 * timeout after each unanswered try). For a server that removed us and later gave access back:
 * toxcore never re-sends a request to a friend it has confirmed once, and the server drops
 * requests from friends it already has, so asking again is harmless when nothing was wrong.
 * Returns 0 when the request is queued, 1 when the friend is online (nothing to do), -1 when
 * there is no such friend, -2 when the message is empty or too long. */
int tt_friend_rerequest(Tox *tox, uint32_t friend_number, const uint8_t *message, size_t length)
{
    Messenger *m = tox->m;
    if (!m_friend_exists(m, (int32_t)friend_number)) return -1;
    if (length == 0 || length > MAX_FRIEND_REQUEST_DATA_SIZE) return -2;
    Friend *f = &m->friendlist[friend_number];
    if (f->status == FRIEND_ONLINE) return 1;
    memcpy(f->info, message, length);
    f->info_size = (uint16_t)length;
    f->status = FRIEND_ADDED;
    f->friendrequest_timeout = FRIENDREQUEST_TIMEOUT;
    f->friendrequest_lastsent = 0;
    return 0;
}

/* --- hearing a refused friend again --------------------------------------------------------- */

#include "../toxcore-submodule/toxcore/friend_requests.h"

/* toxcore remembers the last 32 keys that sent a friend request and ignores further requests
 * from them (friend_requests.c, request_received), until the key becomes a friend and is
 * deleted again. A server that refused a request (no rule yet, a wrong secret) calls this, so
 * that the same friend is heard when it asks again — after its access was given back, or with
 * the right secret. Returns 0 if the key was remembered, -1 if not. */
int tt_forget_friend_request(Tox *tox, const uint8_t *public_key)
{
    return remove_request_received(tox->m->fr, public_key);
}

/* --- what an idle host asks (patch 0012) ---------------------------------------------------- */

bool tt_crypto_quiet(const Net_Crypto *c);                        /* patch 0012 */
int64_t tt_crypto_heard_ms(const Net_Crypto *c, int crypt_connection_id); /* patch 0012 */

/* 1 when toxcore owes no peer a confirmation and misses no packet: a settled host that just
 * handled a datagram need not iterate again soon (src/tox/iteration-scheduler.ts). */
int tt_tox_quiet(Tox *tox)
{
    return tt_crypto_quiet(tox->m->net_crypto) ? 1 : 0;
}

/* Milliseconds since the friend's connection last received a packet from it (toxcore's
 * request packets, at least one a second, count), or -1 when not connected. */
int tt_friend_heard_ms(Tox *tox, uint32_t friend_number)
{
    const Messenger *m = tox->m;
    if (!m_friend_exists(m, (int32_t)friend_number)) return -1;
    const int crypt_id = friend_connection_crypt_connection_id(m->fr_c, m->friendlist[friend_number].friendcon_id);
    if (crypt_id == -1) return -1;
    const int64_t ms = tt_crypto_heard_ms(m->net_crypto, crypt_id);
    return ms < 0 ? -1 : ms > 0x7fffffff ? 0x7fffffff : (int)ms;
}
