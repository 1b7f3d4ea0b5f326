/* SPDX-License-Identifier: GPL-3.0-or-later
 * toxtunnel: toxcore's network layer (Network_Funcs, toxcore/net.h in 0.2.22) on host sockets.
 *
 * toxcore 0.2.22 routes every socket call through a `Network` (a table of functions plus an
 * object). Its `os_network()` (toxcore/os_network.c) returns the BSD-socket table; the build
 * renames that function (-Dos_network=tt_native_os_network for that one file) and this file
 * provides `os_network()` instead, so plain `tox_new` uses JavaScript sockets and the rest of
 * os_network.c (address helpers, errno access, byte order) stays upstream code.
 *
 * Semantics toxcore relies on, kept here:
 * - calls never block; "nothing now" is -1 with errno EWOULDBLOCK, a started connect is -1
 *   with EINPROGRESS;
 * - bind is synchronous; a port that is taken is -1/EADDRINUSE (toxcore then walks its range);
 * - TCP reads only happen after recvbuf (FIONREAD) reported enough bytes.
 */
#include <errno.h>
#include <string.h>

#include "../toxcore-submodule/toxcore/ccompat.h"
#include "../toxcore-submodule/toxcore/mem.h"
#include "../toxcore-submodule/toxcore/net.h"
#include "../toxcore-submodule/toxcore/os_network.h"
#include "tt_host.h"

static int errno_from_host(int code)
{
    switch (code) {
        case TT_E_WOULDBLOCK: return EWOULDBLOCK;
        case TT_E_INPROGRESS: return EINPROGRESS;
        case TT_E_ADDRINUSE: return EADDRINUSE;
        case TT_E_CONNREFUSED: return ECONNREFUSED;
        case TT_E_CONNRESET: return ECONNRESET;
        case TT_E_NOTCONN: return ENOTCONN;
        case TT_E_BADF: return EBADF;
        case TT_E_AFNOSUPPORT: return EAFNOSUPPORT;
        case TT_E_NETUNREACH: return ENETUNREACH;
        case TT_E_ADDRNOTAVAIL: return EADDRNOTAVAIL;
        case TT_E_MSGSIZE: return EMSGSIZE;
        case TT_E_ACCES: return EACCES;
        default: return EINVAL;
    }
}

/* A host result: >= 0 passes through, < 0 becomes -1 with errno set. */
static int host_result(int result)
{
    if (result >= 0) {
        return result;
    }
    errno = errno_from_host(-result);
    return -1;
}

/* toxcore families: TOX_AF_INET(2)/TCP_INET for IPv4, TOX_AF_INET6(10)/TCP_INET6 for IPv6. */
static int host_family(int tox_family)
{
    switch (tox_family) {
        case TOX_AF_INET:
        case TCP_INET:
            return TT_AF_INET;
        case TOX_AF_INET6:
        case TCP_INET6:
            return TT_AF_INET6;
        default:
            return 0;
    }
}

/* IP_Port keeps the port in network byte order. */
static int host_port(const IP_Port *addr)
{
    return net_ntohs(addr->port);
}

static const uint8_t *host_ip(const IP_Port *addr)
{
    return host_family(addr->ip.family.value) == TT_AF_INET ? addr->ip.ip.v4.uint8 : addr->ip.ip.v6.uint8;
}

static int tt_close(void *obj, Socket sock)
{
    return host_result(tt_host_close(net_socket_to_native(sock)));
}

static Socket tt_accept(void *obj, Socket sock)
{
    const int fd = host_result(tt_host_accept(net_socket_to_native(sock)));
    return fd < 0 ? net_invalid_socket() : net_socket_from_native(fd);
}

static int tt_bind(void *obj, Socket sock, const IP_Port *addr)
{
    const int family = host_family(addr->ip.family.value);
    if (family == 0) {
        errno = EAFNOSUPPORT;
        return -1;
    }
    return host_result(tt_host_bind(net_socket_to_native(sock), family, host_ip(addr), host_port(addr)));
}

static int tt_listen(void *obj, Socket sock, int backlog)
{
    return host_result(tt_host_listen(net_socket_to_native(sock)));
}

static int tt_connect(void *obj, Socket sock, const IP_Port *addr)
{
    const int family = host_family(addr->ip.family.value);
    if (family == 0) {
        errno = EAFNOSUPPORT;
        return -1;
    }
    return host_result(tt_host_connect(net_socket_to_native(sock), family, host_ip(addr), host_port(addr)));
}

static int tt_recvbuf(void *obj, Socket sock)
{
    const int count = tt_host_recvbuf(net_socket_to_native(sock));
    return count < 0 ? 0 : count;
}

static int tt_recv(void *obj, Socket sock, uint8_t *buf, size_t len)
{
    return host_result(tt_host_recv(net_socket_to_native(sock), buf, len));
}

static int tt_recvfrom(void *obj, Socket sock, uint8_t *buf, size_t len, IP_Port *addr)
{
    uint8_t from[1 + 16 + 2];
    const int result = host_result(tt_host_recvfrom(net_socket_to_native(sock), buf, len, from));
    if (result < 0) {
        return result;
    }
    memset(addr, 0, sizeof(*addr));
    if (from[0] == TT_AF_INET) {
        addr->ip.family = net_family_ipv4();
        memcpy(addr->ip.ip.v4.uint8, from + 1, 4);
    } else {
        addr->ip.family = net_family_ipv6();
        memcpy(addr->ip.ip.v6.uint8, from + 1, 16);
    }
    addr->port = net_htons((uint16_t)(from[17] | (from[18] << 8)));
    return result;
}

static int tt_send(void *obj, Socket sock, const uint8_t *buf, size_t len)
{
    return host_result(tt_host_send(net_socket_to_native(sock), buf, len));
}

static int tt_sendto(void *obj, Socket sock, const uint8_t *buf, size_t len, const IP_Port *addr)
{
    const int family = host_family(addr->ip.family.value);
    if (family == 0) {
        errno = EAFNOSUPPORT;
        return -1;
    }
    return host_result(tt_host_sendto(net_socket_to_native(sock), buf, len, family, host_ip(addr), host_port(addr)));
}

static Socket tt_socket(void *obj, int domain, int type, int proto)
{
    const int family = host_family(domain);
    const int host_type = type == TOX_SOCK_STREAM ? TT_SOCK_STREAM : type == TOX_SOCK_DGRAM ? TT_SOCK_DGRAM : 0;
    if (family == 0 || host_type == 0) {
        errno = EAFNOSUPPORT;
        return net_invalid_socket();
    }
    const int fd = host_result(tt_host_socket(family, host_type));
    return fd < 0 ? net_invalid_socket() : net_socket_from_native(fd);
}

/* Host sockets are always non-blocking. */
static int tt_socket_nonblock(void *obj, Socket sock, bool nonblock)
{
    return nonblock ? 0 : (errno = EINVAL, -1);
}

/* Only IPV6_V6ONLY is ever read (net_set_socket_dualstack): host IPv6 sockets are dual-stack,
 * so report 0 and toxcore skips setting it. */
static int tt_getsockopt(void *obj, Socket sock, int level, int optname, void *optval, size_t *optlen)
{
    if (*optlen >= sizeof(int)) {
        memset(optval, 0, sizeof(int));
        *optlen = sizeof(int);
    }
    return 0;
}

#include <netinet/in.h>
#include <sys/socket.h>

static int tt_setsockopt(void *obj, Socket sock, int level, int optname, const void *optval, size_t optlen)
{
    const int fd = net_socket_to_native(sock);
    if (level == SOL_SOCKET && optname == SO_BROADCAST) {
        return host_result(tt_host_setsockopt(fd, TT_OPT_BROADCAST, 0));
    }
    if (level == IPPROTO_IPV6 && optname == IPV6_ADD_MEMBERSHIP) {
        return host_result(tt_host_setsockopt(fd, TT_OPT_JOIN_FF02_1, 0));
    }
    /* toxcore asks for 2 MiB UDP buffers (net_set_socket_buffer_size); without them a busy
     * moment overflows the kernel's default ~208 KiB and congestion control collapses. */
    if (level == SOL_SOCKET && (optname == SO_RCVBUF || optname == SO_SNDBUF) && optlen >= sizeof(int)) {
        int value;
        memcpy(&value, optval, sizeof(value));
        return host_result(tt_host_setsockopt(fd, optname == SO_RCVBUF ? TT_OPT_RCVBUF : TT_OPT_SNDBUF, value));
    }
    return 0; /* SO_REUSEADDR, IPV6_V6ONLY: nothing to do on the host */
}

/* Names are resolved in TypeScript before they reach toxcore (tox_bootstrap and
 * tox_add_tcp_relay get IP literals, which toxcore parses itself); DNS is disabled in the
 * options, so this is never asked for a name. Answer "no addresses". */
static int tt_getaddrinfo(void *obj, const Memory *mem, const char *address, int family, int protocol, IP_Port **addrs)
{
    *addrs = nullptr;
    return 0;
}

static int tt_freeaddrinfo(void *obj, const Memory *mem, IP_Port *addrs)
{
    if (addrs != nullptr) {
        mem_delete(mem, addrs);
    }
    return 0;
}

static const Network_Funcs tt_network_funcs = {
    tt_close,
    tt_accept,
    tt_bind,
    tt_listen,
    tt_connect,
    tt_recvbuf,
    tt_recv,
    tt_recvfrom,
    tt_send,
    tt_sendto,
    tt_socket,
    tt_socket_nonblock,
    tt_getsockopt,
    tt_setsockopt,
    tt_getaddrinfo,
    tt_freeaddrinfo,
};

static const Network tt_network_obj = {&tt_network_funcs, nullptr};

const Network *os_network(void)
{
    return &tt_network_obj;
}
