// SPDX-License-Identifier: GPL-3.0-or-later
// Emscripten JS library: each import declared in wasm/tt_host.h forwards to the host object
// the TypeScript side passes in as `Module.ttHost` (src/wasm/host.ts). Nothing else lives here:
// sockets, randomness and event dispatch are TypeScript. Pointers arrive as numbers into
// the wasm memory; the host reads them through its own view of that memory.
mergeInto(LibraryManager.library, {
  tt_host_socket: function(family, type) { return Module['ttHost'].hostSocket(family, type); },
  tt_host_close: function(fd) { return Module['ttHost'].hostClose(fd); },
  tt_host_bind: function(fd, family, ip, port) { return Module['ttHost'].hostBind(fd, family, ip, port); },
  tt_host_listen: function(fd) { return Module['ttHost'].hostListen(fd); },
  tt_host_accept: function(fd) { return Module['ttHost'].hostAccept(fd); },
  tt_host_connect: function(fd, family, ip, port) { return Module['ttHost'].hostConnect(fd, family, ip, port); },
  tt_host_recvbuf: function(fd) { return Module['ttHost'].hostRecvbuf(fd); },
  tt_host_recv: function(fd, buf, len) { return Module['ttHost'].hostRecv(fd, buf, len); },
  tt_host_recvfrom: function(fd, buf, len, addr) { return Module['ttHost'].hostRecvfrom(fd, buf, len, addr); },
  tt_host_send: function(fd, buf, len) { return Module['ttHost'].hostSend(fd, buf, len); },
  tt_host_sendto: function(fd, buf, len, family, ip, port) { return Module['ttHost'].hostSendto(fd, buf, len, family, ip, port); },
  tt_host_setsockopt: function(fd, option, value) { return Module['ttHost'].hostSetsockopt(fd, option, value); },
  tt_host_random: function(buf, len) { return Module['ttHost'].hostRandom(buf, len); },
  tt_event_self_connection: function(node, status) { return Module['ttHost'].eventSelfConnection(node, status); },
  tt_event_friend_request: function(node, publicKey, message, length) { return Module['ttHost'].eventFriendRequest(node, publicKey, message, length); },
  tt_event_friend_connection: function(node, friendNumber, status) { return Module['ttHost'].eventFriendConnection(node, friendNumber, status); },
  tt_event_friend_lossless_packet: function(node, friendNumber, data, length) { return Module['ttHost'].eventFriendLosslessPacket(node, friendNumber, data, length); },
  tt_event_log: function(node, level, file, line, func, message) { return Module['ttHost'].eventLog(node, level, file, line, func, message); },
});
