/* SPDX-License-Identifier: GPL-3.0-or-later
 * toxtunnel: reconnecting from memory (issue 11). Two small functions over toxcore's
 * friend_connection and DHT internals, so a restarted node reaches a friend it knew directly
 * instead of waiting for the DHT and the onion to find it again (~10 s).
 *
 * Why this is sound: a friend connection is a net_crypto connection to the friend's long-term
 * key (real_public_key, fixed when the friend was added). The DHT key and address we feed in
 * are only where to send the first cookie request; the handshake that follows is authenticated
 * with the friend's long-term key (net_crypto.c, handle_crypto_handshake), so a wrong or stale
 * hint cannot make us talk to anyone else. A stale hint costs nothing: the onion search for
 * the friend runs as always, and the DHT key it finds replaces ours (dht_pk_callback).
 *
 * Kept apart from tt_glue.c so patches to toxcore's net_crypto (other work) merge cleanly.
 */
#include <stdint.h>
#include <string.h>

#include "../toxcore-submodule/toxcore/DHT.h"
#include "../toxcore-submodule/toxcore/Messenger.h"
#include "../toxcore-submodule/toxcore/friend_connection.h"
#include "../toxcore-submodule/toxcore/network.h"
#include "../toxcore-submodule/toxcore/tox.h"
#include "../toxcore-submodule/toxcore/tox_struct.h"
#include "../toxcore-submodule/toxcore/crypto_core.h"
#include "../toxcore-submodule/toxcore/mono_time.h"
#include "../toxcore-submodule/toxcore/net.h"
#include "../toxcore-submodule/toxcore/net_crypto.h"
#include "../toxcore-submodule/toxcore/onion_announce.h"
#include "../toxcore-submodule/toxcore/onion_client.h"

static int friendcon_of(const Tox *tox, uint32_t friend_number)
{
    const Messenger *m = tox->m;
    if (!m_friend_exists(m, (int32_t)friend_number)) {
        return -1;
    }
    return m->friendlist[friend_number].friendcon_id;
}

static bool key_is_zero(const uint8_t *key)
{
    uint8_t any = 0;
    for (int i = 0; i < CRYPTO_PUBLIC_KEY_SIZE; ++i) {
        any |= key[i];
    }
    return any == 0;
}

/* What we know now of how to reach a friend: its current DHT key (32 bytes into dht_pk) and
 * the direct address its DHT/net_crypto packets came from (text into address, a buffer of
 * address_size >= 48 bytes; *port in host order).
 * Returns -1 when there is no such friend or no DHT key is known, 0 when only the DHT key is
 * known (no direct address: e.g. connected through a TCP relay), 1 when both are. */
int tt_friend_get_hint(const Tox *tox, uint32_t friend_number, uint8_t *dht_pk, char *address, uint32_t address_size,
                       int *port)
{
    const int friendcon_id = friendcon_of(tox, friend_number);
    const Friend_Connections *fr_c = tox->m->fr_c;
    address[0] = '\0';
    *port = 0;
    if (friendcon_id < 0 || get_friendcon_public_keys(NULL, dht_pk, fr_c, friendcon_id) != 0 || key_is_zero(dht_pk)) {
        return -1;
    }
    IP_Port ip_port = {{{0}}};
    const Friend_Conn *conn = get_conn(fr_c, friendcon_id);
    const IP_Port *known = conn == NULL ? NULL : friend_conn_get_dht_ip_port(conn);
    if (known != NULL && ipport_isset(known)) {
        ip_port = *known;
    } else if (dht_getfriendip(tox->m->dht, dht_pk, &ip_port) != 1) {
        return 0;
    }
    if (!ip_parse_addr(&ip_port.ip, address, address_size)) {
        address[0] = '\0';
        return 0;
    }
    *port = net_ntohs(ip_port.port);
    return 1;
}

/* Sends a friend our current DHT key, straight to the address where its (remembered, still
 * valid) DHT key was: the same announcement toxcore's onion_client sends through the DHT every
 * 20 s (send_dht_dhtpk: CRYPTO_PACKET_DHTPK = [156][no_replay u64][our DHT key], encrypted
 * from our long-term key to the friend's, wrapped in a DHT request to its DHT key), without
 * its node list. The friend checks both encryptions, takes our new DHT key
 * (handle_dhtpk_announce) and opens a connection to it at once: a node that restarted is thus
 * called back instead of waiting for its own handshake to be retried (1 s in net_crypto). */
static void announce_dht_key(const Messenger *m, uint32_t friend_number, const uint8_t *friend_dht_pk, const IP_Port *ip_port)
{
    uint8_t real_pk[CRYPTO_PUBLIC_KEY_SIZE];
    if (get_friendcon_public_keys(real_pk, NULL, m->fr_c, m->friendlist[friend_number].friendcon_id) != 0) {
        return;
    }
    uint8_t data[1 + sizeof(uint64_t) + CRYPTO_PUBLIC_KEY_SIZE];
    data[0] = CRYPTO_PACKET_DHTPK;
    net_pack_u64(data + 1, mono_time_get(m->mono_time)); /* no_replay: seconds, as toxcore's */
    memcpy(data + 1 + sizeof(uint64_t), dht_get_self_public_key(m->dht), CRYPTO_PUBLIC_KEY_SIZE);

    uint8_t inner[CRYPTO_PUBLIC_KEY_SIZE + CRYPTO_NONCE_SIZE + sizeof(data) + CRYPTO_MAC_SIZE];
    memcpy(inner, nc_get_self_public_key(m->net_crypto), CRYPTO_PUBLIC_KEY_SIZE);
    random_nonce(m->rng, inner + CRYPTO_PUBLIC_KEY_SIZE);
    const int32_t sealed = encrypt_data(m->mem, real_pk, nc_get_self_secret_key(m->net_crypto), inner + CRYPTO_PUBLIC_KEY_SIZE,
                                        data, sizeof(data), inner + CRYPTO_PUBLIC_KEY_SIZE + CRYPTO_NONCE_SIZE);
    if (sealed != (int32_t)(sizeof(data) + CRYPTO_MAC_SIZE)) {
        return;
    }
    uint8_t packet[MAX_CRYPTO_REQUEST_SIZE];
    const int length = create_request(m->mem, m->rng, dht_get_self_public_key(m->dht), dht_get_self_secret_key(m->dht), packet,
                                      friend_dht_pk, inner, sizeof(inner), CRYPTO_PACKET_DHTPK);
    if (length > 0) {
        sendpacket(m->net, ip_port, packet, (uint16_t)length);
    }
}

/* --- a friend still calling our previous DHT key (patch 0005) ------------------------------
 * toxcore makes a new DHT key at every start, and a friend that kept running still knows our
 * previous one and the address it was at: its friend_connection sends a cookie request there,
 * sealed to that old key, every second until the key times out (FRIEND_DHT_TIMEOUT, ~2 min).
 * Restarted at the same address we receive those requests and cannot open them. Meanwhile the
 * DHT-key announcement that would put it right goes through the onion once per 30 s
 * (ONION_DHTPK_SEND_INTERVAL), and right after our restart it is easily lost: onion paths and
 * stored return paths through our previous DHT node end at our address, where the new node
 * cannot open them. Measured in test/e2e/reconnect.test.ts (stale hint): 9 runs in 13 waited
 * 31-32 s for the next announcement.
 *
 * So, told of such a request (net_crypto, at most once a second), we send the sender our
 * current DHT key: the announcement of announce_dht_key, to the sender's DHT key at its address.
 * It is sealed to the friend's long-term key, so only that friend can open it; it checks both
 * seals and connects to our new key at once (handle_dht_dhtpk, the packet toxcore routes
 * through the DHT every 20 s). Only friends that are not connected are told: the one whose
 * DHT key we hold is the sender if there is one, else up to STALE_ANNOUNCE_MAX of them (a
 * rotating window: one request costs at most that many ~200-byte packets; anyone can send us
 * such a request, but learns nothing it could open and gets no more than this per second). */
#define STALE_ANNOUNCE_MAX 4

typedef void tt_stale_cookie_request_cb(void *object, const IP_Port *source, const uint8_t *sender_dht_pk);
void tt_nc_callback_stale_cookie_request(Net_Crypto *c, tt_stale_cookie_request_cb *cb, void *object);
uint32_t tt_nc_stale_cookie_request_calls(const Net_Crypto *c);

static bool friend_waiting(const Messenger *m, uint32_t friend_number)
{
    return m_friend_exists(m, (int32_t)friend_number)
           && friend_con_connected(m->fr_c, m->friendlist[friend_number].friendcon_id) != FRIENDCONN_STATUS_CONNECTED;
}

static void on_stale_cookie_request(void *object, const IP_Port *source, const uint8_t *sender_dht_pk)
{
    const Tox *tox = (const Tox *)object;
    const Messenger *m = tox->m;
    const uint32_t count = m->numfriends;
    uint8_t dht_pk[CRYPTO_PUBLIC_KEY_SIZE];
    for (uint32_t i = 0; i < count; ++i) {
        if (friend_waiting(m, i) && get_friendcon_public_keys(NULL, dht_pk, m->fr_c, m->friendlist[i].friendcon_id) == 0
                && memcmp(dht_pk, sender_dht_pk, CRYPTO_PUBLIC_KEY_SIZE) == 0) {
            announce_dht_key(m, i, sender_dht_pk, source);
            return;
        }
    }
    const uint32_t start = count == 0 ? 0 : (uint32_t)(mono_time_get(m->mono_time) % count);
    unsigned sent = 0;
    for (uint32_t k = 0; k < count && sent < STALE_ANNOUNCE_MAX; ++k) {
        const uint32_t i = (start + k) % count;
        if (friend_waiting(m, i)) {
            announce_dht_key(m, i, sender_dht_pk, source);
            ++sent;
        }
    }
}

/* Answers such calls (on != 0) or not: on for every new node (tt_connect_init), off when the
 * user turns address hints off (src/app/tox-runtime.ts). */
void tt_answer_stale_calls(Tox *tox, int on)
{
    tt_nc_callback_stale_cookie_request(tox->m->net_crypto, on != 0 ? on_stale_cookie_request : NULL, tox);
}

/* How many such calls were answered since the node started (for a log line). */
uint32_t tt_stale_calls_answered(const Tox *tox)
{
    return tt_nc_stale_cookie_request_calls(tox->m->net_crypto);
}

/* Called once for each new node (tt_tox_new). */
void tt_connect_init(Tox *tox)
{
    tt_answer_stale_calls(tox, 1);
}

/* Tells toxcore where a friend probably is, from a previous session: its DHT key, and
 * (address non-empty) the UDP address that key was reachable at. The key becomes the friend
 * connection's DHT key (set_dht_temp_pk: friend_connection then opens a net_crypto connection
 * to it on its next iteration), and a DHT getnodes request goes to the address with that key
 * (dht_bootstrap): only the holder of the key can answer it, and its answer gives the DHT the
 * friend's address, which friend_connection hands to net_crypto as the direct route. With an
 * address, our new DHT key is also announced there (announce_dht_key), so the friend, if it
 * kept running, connects to us from its side as well.
 * Nothing happens when the friend is already connected. node is the TypeScript node id
 * (toxcore's user_data: a status change during this call reaches our callbacks with it).
 * Returns 0 on success, 1 no such friend, 2 the address does not parse, 3 the friend is
 * connected already (nothing done). */
int tt_friend_reach(Tox *tox, int node, uint32_t friend_number, const uint8_t *dht_pk, const char *address, int port)
{
    const int friendcon_id = friendcon_of(tox, friend_number);
    if (friendcon_id < 0) {
        return 1;
    }
    Friend_Connections *fr_c = tox->m->fr_c;
    if (friend_con_connected(fr_c, friendcon_id) == FRIENDCONN_STATUS_CONNECTED) {
        return 3;
    }
    IP_Port ip_port = {{{0}}};
    const bool direct = address != NULL && address[0] != '\0';
    if (direct) {
        if (!addr_parse_ip(address, &ip_port.ip) || port <= 0 || port > 65535) {
            return 2;
        }
        ip_port.port = net_htons((uint16_t)port);
    }
    uint8_t current[CRYPTO_PUBLIC_KEY_SIZE];
    if (get_friendcon_public_keys(NULL, current, fr_c, friendcon_id) == 0 && memcmp(current, dht_pk, sizeof(current)) != 0) {
        set_dht_temp_pk(fr_c, friendcon_id, dht_pk, (void *)(intptr_t)node);
    }
    if (direct) {
        dht_bootstrap(tox->m->dht, &ip_port, dht_pk);
        announce_dht_key(tox->m, friend_number, dht_pk, &ip_port);
    }
    return 0;
}

/* Our onion data key (32 bytes into out): the key friends encrypt onion data to us with, which
 * our onion announcements hand to every node we announce to (toxcore makes a new one at every
 * start). An invite carries it, so that a new client can send its friend request straight to
 * us (tt_friend_request_direct). */
void tt_self_get_onion_key(const Tox *tox, uint8_t *out)
{
    onion_testonly_get_temp_public_key(tox->m->onion_c, out);
}

/* Sends our pending friend request to a friend straight to an address, instead of through an
 * onion path and the friend's announce node: the first contact of an invite, which holds the
 * friend's onion data key (tt_self_get_onion_key) and address.
 *
 * The packet is, byte for byte, what the announce node would hand the friend: toxcore's
 * send_onion_data builds an onion data request, [0x85][friend's long-term key][nonce][temp
 * key][sealed to the onion data key: [our long-term key][sealed from our long-term key to the
 * friend's: [32 = CRYPTO_PACKET_FRIEND_REQ][nospam][message]]]], and the announce node
 * forwards it as an onion data response, [0x86] and the rest without the friend's key
 * (onion_announce.c, handle_data_request). The friend's handle_data_response takes such a
 * packet from any address, so nothing new is accepted there: the request is still sealed
 * with our long-term key (only the friend can open it, and it proves who sent it), and the
 * friend decides on it as on any other (nospam, its rules). What the onion would have hidden
 * is our address, which a client that connects to the invite's address directly shows anyway.
 * A wrong address or key costs one unanswered datagram; the onion request goes out as always.
 * Returns 0 sent, 1 no such friend, 2 bad address, 3 no request pending (already a friend),
 * 4 the packet could not be built or sent. */
int tt_friend_request_direct(Tox *tox, uint32_t friend_number, const uint8_t *onion_key, const char *address, int port)
{
    Messenger *m = tox->m;
    if (!m_friend_exists(m, (int32_t)friend_number)) {
        return 1;
    }
    const Friend *f = &m->friendlist[friend_number];
    if (f->status != FRIEND_ADDED && f->status != FRIEND_REQUESTED) {
        return 3;
    }
    IP_Port ip_port = {{{0}}};
    if (address == NULL || !addr_parse_ip(address, &ip_port.ip) || port <= 0 || port > 65535) {
        return 2;
    }
    ip_port.port = net_htons((uint16_t)port);

    uint8_t real_pk[CRYPTO_PUBLIC_KEY_SIZE];
    if (get_friendcon_public_keys(real_pk, NULL, m->fr_c, f->friendcon_id) != 0) {
        return 1;
    }
    /* The request, as friend_connection.c's send_friend_request_packet lays it out. */
    uint8_t request[1 + sizeof(uint32_t) + MAX_FRIEND_REQUEST_DATA_SIZE];
    const uint16_t request_length = (uint16_t)(1 + sizeof(uint32_t) + f->info_size);
    if (f->info_size == 0 || request_length > ONION_CLIENT_MAX_DATA_SIZE) {
        return 4;
    }
    request[0] = CRYPTO_PACKET_FRIEND_REQ;
    memcpy(request + 1, &f->friendrequest_nospam, sizeof(uint32_t));
    memcpy(request + 1 + sizeof(uint32_t), f->info, f->info_size);

    /* Sealed to the friend's long-term key, as send_onion_data does (same nonce outside). */
    uint8_t nonce[CRYPTO_NONCE_SIZE];
    random_nonce(m->rng, nonce);
    uint8_t inner[CRYPTO_PUBLIC_KEY_SIZE + sizeof(request) + CRYPTO_MAC_SIZE];
    memcpy(inner, nc_get_self_public_key(m->net_crypto), CRYPTO_PUBLIC_KEY_SIZE);
    const int sealed = encrypt_data(m->mem, real_pk, nc_get_self_secret_key(m->net_crypto), nonce, request, request_length,
                                    inner + CRYPTO_PUBLIC_KEY_SIZE);
    if (sealed != request_length + CRYPTO_MAC_SIZE) {
        return 4;
    }
    uint8_t data_request[ONION_MAX_PACKET_SIZE];
    const int length = create_data_request(m->mem, m->rng, data_request, sizeof(data_request), real_pk, onion_key, nonce, inner,
                                           (uint16_t)(CRYPTO_PUBLIC_KEY_SIZE + sealed));
    if (length <= 1 + CRYPTO_PUBLIC_KEY_SIZE) {
        return 4;
    }
    /* What the announce node sends on: the response id and the request less the friend's key. */
    uint8_t packet[ONION_MAX_PACKET_SIZE];
    packet[0] = NET_PACKET_ONION_DATA_RESPONSE;
    memcpy(packet + 1, data_request + 1 + CRYPTO_PUBLIC_KEY_SIZE, (size_t)(length - 1 - CRYPTO_PUBLIC_KEY_SIZE));
    const uint16_t packet_length = (uint16_t)(length - CRYPTO_PUBLIC_KEY_SIZE);
    return sendpacket(m->net, &ip_port, packet, packet_length) == packet_length ? 0 : 4;
}
