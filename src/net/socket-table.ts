// SPDX-License-Identifier: GPL-3.0-or-later
/**
 * The sockets toxcore uses, as real host sockets (node:dgram, node:net — also in Bun and Deno),
 * behind the non-blocking BSD-style calls of wasm/tt_host.h.
 *
 * toxcore's calls are synchronous and never block, while host sockets are event-driven, so
 * every socket keeps a queue that its events fill and toxcore's calls drain:
 * - UDP: datagrams queue up (bounded: when full, new ones are dropped and counted, as a
 *   kernel drops them) until toxcore's recvfrom loop takes them;
 * - TCP: received bytes are buffered and announced through recvbuf (FIONREAD); reading is
 *   paused while the buffer is full, writes answer "would block" while the host's write
 *   queue is over its mark — back-pressure in both directions;
 * - connect answers EINPROGRESS and completes in the background; accept takes from a queue.
 *
 * bind must be synchronous for toxcore (it walks a port range on EADDRINUSE) but host binds
 * are asynchronous, so the node binds its sockets *before* tox_new ({@link reserveUdp},
 * {@link reserveTcpListener}) and toxcore's socket()+bind() on that port claims them.
 *
 * Every socket belongs to an owner whose `wake()` runs when the socket has something for
 * toxcore (data, a connection, writability): that is what lets the node iterate at once
 * instead of waiting for its next timer.
 */
import { FaultyPath, faultsFromEnvironment } from './faults.ts';
import dgram from 'node:dgram';
import dns from 'node:dns';
import net from 'node:net';
import { ToxtunnelError } from '../errors.ts';
import { HostError, HostFamily, HostOption, HostSocketType, hostErrorFromNode } from './host-errors.ts';
import { ipBytesToString, ipStringToBytes } from './ip-bytes.ts';
import { Slab } from '../protocol/slab.ts';
import { runtimeName } from '../runtime.ts';

export interface SocketOwner {
  /**
   * Called when a socket of this owner has something for toxcore. Must be cheap. `firstByte`:
   * a datagram's packet kind (the owner may serve DHT and onion traffic less urgently).
   */
  wake(firstByte?: number): void;
}

/** Datagrams kept per UDP socket before new ones are dropped. */
const UDP_QUEUE_LIMIT = 16384;
/** Received TCP bytes buffered before reading from the host socket pauses. */
const TCP_READ_HIGH_WATER = 1 << 20;
/** Host write queue above which send() answers "would block". */
const TCP_WRITE_HIGH_WATER = 1 << 20;

interface Datagram {
  data: Buffer;
  address: string;
  port: number;
}

type Entry = FreshEntry | UdpEntry | StreamEntry | ListenerEntry;

interface FreshEntry {
  kind: 'fresh';
  owner: SocketOwner;
  family: number;
  type: number;
  broadcast: boolean;
  joinFf02: boolean;
  receiveBuffer: number;
  sendBuffer: number;
}

interface UdpEntry {
  kind: 'udp';
  owner: SocketOwner;
  socket: dgram.Socket;
  queue: Datagram[];
  head: number;
  dropped: number;
}

interface StreamEntry {
  kind: 'stream';
  owner: SocketOwner;
  socket: net.Socket;
  state: 'connecting' | 'open' | 'ended' | 'failed';
  errorCode: number;
  chunks: Buffer[];
  buffered: number;
  paused: boolean;
  /** Writes are being gathered until the current call into toxcore returns (see send). */
  corked: boolean;
}

interface ListenerEntry {
  kind: 'listener';
  owner: SocketOwner;
  server: net.Server;
  pending: net.Socket[];
  closed: boolean;
}

export interface ReservedUdp {
  socket: dgram.Socket;
  port: number;
}

export interface ReservedListener {
  server: net.Server;
  port: number;
}

export interface SocketStats {
  open: number;
  udpDropped: number;
}

/** Binds a UDP socket on the first free port of [startPort, endPort] (like toxcore's walk). */
/**
 * node:dgram resolves the address of every datagram it sends; toxcore only ever gives literal
 * addresses, and dns.lookup answers those a tick later. Answering at once saves that tick per
 * datagram (about 1 µs of CPU each on Node, more on Bun, where the lookup shows in profiles):
 * send() then passes the datagram to the kernel before it returns. No net.isIP either: its
 * IPv4 and IPv6 patterns were 0.7 % of a sender's CPU (perf); sendto formats the text itself
 * (IPv6 with ':', an IPv4 peer on an IPv6 socket as ::ffff:a.b.c.d; dotted IPv4 on IPv4).
 */
function literalAddressLookup(host: string, options: unknown, callback: (error: Error | null, address: string, family: number) => void): void {
  const first = host.charCodeAt(0);
  if (host.includes(':')) callback(null, host, 6);
  else if (first >= 0x30 && first <= 0x39) callback(null, host, 4);
  else dns.lookup(host, options as dns.LookupOneOptions, callback);
}

export async function reserveUdp(ipv6: boolean, startPort: number, endPort: number): Promise<ReservedUdp> {
  let lastError: unknown;
  for (let port = startPort; port <= endPort; port++) {
    const socket = dgram.createSocket({ type: ipv6 ? 'udp6' : 'udp4', ipv6Only: false, lookup: literalAddressLookup });
    try {
      await new Promise<void>((resolve, reject) => {
        socket.once('error', reject);
        socket.bind({ port, address: ipv6 ? '::' : '0.0.0.0', exclusive: true }, () => {
          socket.off('error', reject);
          resolve();
        });
      });
      return { socket, port: socket.address().port };
    } catch (error) {
      lastError = error;
      socket.close();
    }
  }
  const range = startPort === endPort ? `port ${startPort}` : `ports ${startPort}-${endPort}`;
  throw new ToxtunnelError(
    'TOX_PORT_IN_USE',
    `cannot bind the Tox UDP socket: ${range} in use (${(lastError as Error)?.message ?? 'unknown error'}); ` +
      'choose another port range or stop the process using it',
    { startPort, endPort },
    { cause: lastError },
  );
}

/** Listens for toxcore's own TCP relay server on `port`. */
export async function reserveTcpListener(ipv6: boolean, port: number): Promise<ReservedListener> {
  const server = net.createServer({ pauseOnConnect: false, noDelay: true });
  try {
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen({ port, host: ipv6 ? '::' : '0.0.0.0', ipv6Only: false, exclusive: true }, () => {
        server.off('error', reject);
        resolve();
      });
    });
  } catch (error) {
    server.close();
    throw new ToxtunnelError(
      'TOX_TCP_PORT_IN_USE',
      `cannot listen on TCP port ${port} for the Tox relay: ${(error as Error).message}; choose another tcp_port or 0 to disable`,
      { port },
      { cause: error },
    );
  }
  return { server, port: (server.address() as net.AddressInfo).port };
}

/**
 * The socket table of one wasm module. File descriptors are small integers from 3 up; the
 * methods return a descriptor/count (>= 0) or a negated {@link HostError}.
 */
export class SocketTable {
  private readonly entries = new Map<number, Entry>();
  private nextFd = 3;
  private readonly reservedUdp = new Map<number, ReservedUdp>();
  private readonly reservedListeners = new Map<number, ReservedListener>();
  private udpDropped = 0;
  /** IPv4 addresses (as big-endian integers) and their text, for sendto. */
  private readonly ipv4Strings = new Map<number, string>();
  private readonly lastIpv6 = new Uint8Array(16);
  private lastIpv6Text = '';
  /** The source address of the last datagram received, as text and as bytes. */
  private lastFromText = '';
  private lastFromBytes: Uint8Array = new Uint8Array(4);
  private readonly outgoing = new Slab();
  /** Stream sockets with writes gathered since the current call into toxcore began. */
  private readonly corked: StreamEntry[] = [];
  private readonly uncorkAll = (): void => {
    for (const entry of this.corked) {
      entry.corked = false;
      entry.socket.uncork();
    }
    this.corked.length = 0;
  };
  /** TOXTUNNEL_FAULTS (tests): loss, delay, reordering and duplicates on our UDP sends. */
  private readonly faults = ((spec) => (spec ? new FaultyPath(spec) : undefined))(faultsFromEnvironment());
  /** Owner given to sockets toxcore creates now (set around every call into C). */
  currentOwner: SocketOwner | undefined;

  constructor(private readonly memory: () => Uint8Array) {}

  /** Makes pre-bound sockets claimable by the next bind() on their port. */
  offer(udp: ReservedUdp | undefined, listener: ReservedListener | undefined): void {
    if (udp) this.reservedUdp.set(udp.port, udp);
    if (listener) this.reservedListeners.set(listener.port, listener);
  }

  /** Closes offered sockets nobody claimed (tox_new failed or did not want them). */
  withdrawOffers(): void {
    for (const { socket } of this.reservedUdp.values()) socket.close();
    for (const { server } of this.reservedListeners.values()) server.close();
    this.reservedUdp.clear();
    this.reservedListeners.clear();
  }

  stats(): SocketStats {
    return { open: this.entries.size, udpDropped: this.udpDropped };
  }

  private add(entry: Entry): number {
    while (this.entries.has(this.nextFd)) this.nextFd = this.nextFd >= 0x7fff0000 ? 3 : this.nextFd + 1;
    const fd = this.nextFd++;
    this.entries.set(fd, entry);
    return fd;
  }

  private owner(): SocketOwner {
    if (!this.currentOwner) throw new Error('socket created outside a node call');
    return this.currentOwner;
  }

  socket(family: number, type: number): number {
    if (family !== HostFamily.INET && family !== HostFamily.INET6) return -HostError.AFNOSUPPORT;
    if (type !== HostSocketType.STREAM && type !== HostSocketType.DGRAM) return -HostError.INVAL;
    return this.add({ kind: 'fresh', owner: this.owner(), family, type, broadcast: false, joinFf02: false, receiveBuffer: 0, sendBuffer: 0 });
  }

  close(fd: number): number {
    const entry = this.entries.get(fd);
    if (!entry) return -HostError.BADF;
    this.entries.delete(fd);
    switch (entry.kind) {
      case 'udp':
        // Not at once: a datagram may still wait in the host's send queue (a full socket
        // buffer; or a tick after send() where a runtime's dgram resolves the address
        // first), and closing now would drop what toxcore sent last: on tox_kill
        // that is the kill packet of every friend connection, which tells the peers we left
        // (they then accept our next start's handshake at once, from the same address).
        process.nextTick(() => entry.socket.close());
        break;
      case 'stream':
        entry.socket.destroy();
        break;
      case 'listener':
        entry.closed = true;
        entry.server.close();
        for (const socket of entry.pending) socket.destroy();
        break;
    }
    return 0;
  }

  bind(fd: number, _family: number, _ipPtr: number, port: number): number {
    const entry = this.entries.get(fd);
    if (!entry || entry.kind !== 'fresh') return -HostError.INVAL;
    if (entry.type === HostSocketType.DGRAM) {
      const reserved = this.reservedUdp.get(port);
      if (!reserved) return -HostError.ADDRINUSE;
      this.reservedUdp.delete(port);
      this.entries.set(fd, this.adoptUdp(entry, reserved.socket));
      return 0;
    }
    const reserved = this.reservedListeners.get(port);
    if (!reserved) return -HostError.ADDRINUSE;
    this.reservedListeners.delete(port);
    this.entries.set(fd, this.adoptListener(entry.owner, reserved.server));
    return 0;
  }

  private adoptUdp(fresh: FreshEntry, socket: dgram.Socket): UdpEntry {
    const entry: UdpEntry = { kind: 'udp', owner: fresh.owner, socket, queue: [], head: 0, dropped: 0 };
    socket.on('message', (data, rinfo) => {
      if (entry.queue.length - entry.head >= UDP_QUEUE_LIMIT) {
        entry.dropped++;
        this.udpDropped++;
        return;
      }
      entry.queue.push({ data, address: rinfo.address, port: rinfo.port });
      entry.owner.wake(data[0]);
    });
    socket.on('error', () => {
      /* ICMP errors and the like: UDP carries on, as toxcore expects */
    });
    if (fresh.broadcast) this.applyOption(entry, HostOption.BROADCAST, 0);
    if (fresh.joinFf02) this.applyOption(entry, HostOption.JOIN_FF02_1, 0);
    if (fresh.receiveBuffer) this.applyOption(entry, HostOption.RCVBUF, fresh.receiveBuffer);
    if (fresh.sendBuffer) this.applyOption(entry, HostOption.SNDBUF, fresh.sendBuffer);
    return entry;
  }

  private adoptListener(owner: SocketOwner, server: net.Server): ListenerEntry {
    const entry: ListenerEntry = { kind: 'listener', owner, server, pending: [], closed: false };
    server.on('connection', (socket) => {
      if (entry.closed) {
        socket.destroy();
        return;
      }
      socket.pause();
      entry.pending.push(socket);
      owner.wake();
    });
    server.on('error', () => {
      /* a failed accept does not stop the listener */
    });
    return entry;
  }

  listen(fd: number): number {
    const entry = this.entries.get(fd);
    return entry?.kind === 'listener' ? 0 : -HostError.INVAL;
  }

  accept(fd: number): number {
    const entry = this.entries.get(fd);
    if (entry?.kind !== 'listener') return -HostError.INVAL;
    const socket = entry.pending.shift();
    if (!socket) return -HostError.WOULDBLOCK;
    const stream = this.adoptStream(entry.owner, socket, 'open');
    socket.resume();
    return this.add(stream);
  }

  connect(fd: number, family: number, ipPtr: number, port: number): number {
    const entry = this.entries.get(fd);
    if (!entry || entry.kind !== 'fresh' || entry.type !== HostSocketType.STREAM) return -HostError.INVAL;
    const ip = ipBytesToString(this.memory().slice(ipPtr, ipPtr + (family === HostFamily.INET ? 4 : 16)));
    const socket = net.connect({ host: ip, port, noDelay: true });
    this.entries.set(fd, this.adoptStream(entry.owner, socket, 'connecting'));
    return -HostError.INPROGRESS;
  }

  private adoptStream(owner: SocketOwner, socket: net.Socket, state: StreamEntry['state']): StreamEntry {
    const entry: StreamEntry = { kind: 'stream', owner, socket, state, errorCode: 0, chunks: [], buffered: 0, paused: false, corked: false };
    socket.on('connect', () => {
      if (entry.state === 'connecting') entry.state = 'open';
      owner.wake();
    });
    socket.on('data', (chunk: Buffer) => {
      entry.chunks.push(chunk);
      entry.buffered += chunk.length;
      if (entry.buffered >= TCP_READ_HIGH_WATER && !entry.paused) {
        entry.paused = true;
        socket.pause();
      }
      owner.wake();
    });
    socket.on('end', () => {
      if (entry.state !== 'failed') entry.state = 'ended';
      owner.wake();
    });
    socket.on('drain', () => owner.wake());
    socket.on('error', (error: NodeJS.ErrnoException) => {
      entry.state = 'failed';
      entry.errorCode = hostErrorFromNode(error.code);
      owner.wake();
    });
    return entry;
  }

  recvbuf(fd: number): number {
    const entry = this.entries.get(fd);
    return entry?.kind === 'stream' ? entry.buffered : 0;
  }

  recv(fd: number, bufPtr: number, length: number): number {
    const entry = this.entries.get(fd);
    if (entry?.kind !== 'stream') return -HostError.BADF;
    if (entry.buffered === 0) {
      if (entry.state === 'ended') return 0;
      if (entry.state === 'failed') return -entry.errorCode;
      if (entry.state === 'connecting') return -HostError.NOTCONN;
      return -HostError.WOULDBLOCK;
    }
    const heap = this.memory();
    let copied = 0;
    while (copied < length && entry.chunks.length > 0) {
      const chunk = entry.chunks[0]!;
      const take = Math.min(chunk.length, length - copied);
      heap.set(take === chunk.length ? chunk : chunk.subarray(0, take), bufPtr + copied);
      copied += take;
      if (take === chunk.length) entry.chunks.shift();
      else entry.chunks[0] = chunk.subarray(take);
    }
    entry.buffered -= copied;
    if (entry.paused && entry.buffered < TCP_READ_HIGH_WATER / 2) {
      entry.paused = false;
      entry.socket.resume();
    }
    return copied;
  }

  send(fd: number, bufPtr: number, length: number): number {
    const entry = this.entries.get(fd);
    if (entry?.kind !== 'stream') return -HostError.BADF;
    if (entry.state === 'connecting') return -HostError.WOULDBLOCK;
    if (entry.state === 'failed') return -entry.errorCode;
    if (entry.socket.destroyed || entry.socket.writableEnded) return -HostError.CONNRESET;
    if (entry.socket.writableLength >= TCP_WRITE_HIGH_WATER) return -HostError.WOULDBLOCK;
    // toxcore writes a relay's packets one send() each (TCP_common.c): gathered until this
    // call into toxcore returns, they leave in one writev instead of a syscall per ~1.4 kB
    // packet (which took a fifth of a relaying process's time). A copy from a slab: the
    // wasm heap is reused before the write happens.
    if (!entry.corked) {
      entry.corked = true;
      entry.socket.cork();
      if (this.corked.push(entry) === 1) process.nextTick(this.uncorkAll);
    }
    entry.socket.write(this.outgoing.copy(this.memory().subarray(bufPtr, bufPtr + length)));
    return length;
  }

  recvfrom(fd: number, bufPtr: number, length: number, addrPtr: number): number {
    const entry = this.entries.get(fd);
    if (entry?.kind !== 'udp') return -HostError.BADF;
    if (entry.head >= entry.queue.length) {
      if (entry.queue.length > 0) {
        entry.queue.length = 0;
        entry.head = 0;
      }
      return -HostError.WOULDBLOCK;
    }
    const datagram = entry.queue[entry.head++]!;
    if (entry.head > 1024 && entry.head * 2 > entry.queue.length) {
      entry.queue.splice(0, entry.head);
      entry.head = 0;
    }
    const heap = this.memory();
    const take = Math.min(length, datagram.data.length);
    heap.set(take === datagram.data.length ? datagram.data : datagram.data.subarray(0, take), bufPtr);
    // Bulk comes from one peer: its address text is compared, not looked up (hashed) each time.
    if (datagram.address !== this.lastFromText) {
      this.lastFromBytes = ipStringToBytes(datagram.address);
      this.lastFromText = datagram.address;
    }
    const ip = this.lastFromBytes;
    heap[addrPtr] = ip.length === 4 ? HostFamily.INET : HostFamily.INET6;
    heap.fill(0, addrPtr + 1, addrPtr + 17);
    heap.set(ip, addrPtr + 1);
    heap[addrPtr + 17] = datagram.port & 0xff;
    heap[addrPtr + 18] = datagram.port >> 8;
    return take;
  }

  sendto(fd: number, bufPtr: number, length: number, family: number, ipPtr: number, port: number): number {
    const entry = this.entries.get(fd);
    if (entry?.kind !== 'udp') return -HostError.BADF;
    const heap = this.memory();
    const address = family === HostFamily.INET ? this.ipv4String(heap, ipPtr) : this.ipv6String(heap, ipPtr);
    // A copy: node:dgram may queue the datagram (a socket still binding, a full kernel buffer;
    // other runtimes may send a tick later) and the wasm heap is reused by then. From a slab
    // (no ArrayBuffer of its own per datagram).
    const datagram = this.outgoing.copy(heap.subarray(bufPtr, bufPtr + length));
    // No callback: with one, node schedules another tick per datagram to call it. Errors
    // reach the socket's 'error' listener (ignored: UDP is unreliable, toxcore resends).
    if (this.faults) this.faults.deliver(() => entry.socket.send(datagram, port, address));
    else entry.socket.send(datagram, port, address);
    return length;
  }

  /** The text of the 16-byte address at `ptr`: the last one is kept (bulk goes to one peer). */
  private ipv6String(heap: Uint8Array, ptr: number): string {
    const last = this.lastIpv6;
    let same = this.lastIpv6Text !== '';
    for (let i = 0; same && i < 16; i++) same = heap[ptr + i] === last[i];
    if (!same) {
      last.set(heap.subarray(ptr, ptr + 16));
      this.lastIpv6Text = ipBytesToString(last);
    }
    return this.lastIpv6Text;
  }

  /** "a.b.c.d" of the 4 bytes at `ptr`, without building the string per datagram. */
  private ipv4String(heap: Uint8Array, ptr: number): string {
    const key = ((heap[ptr]! << 24) | (heap[ptr + 1]! << 16) | (heap[ptr + 2]! << 8) | heap[ptr + 3]!) >>> 0;
    let text = this.ipv4Strings.get(key);
    if (text === undefined) {
      if (this.ipv4Strings.size >= 4096) this.ipv4Strings.clear();
      text = `${key >>> 24}.${(key >>> 16) & 255}.${(key >>> 8) & 255}.${key & 255}`;
      this.ipv4Strings.set(key, text);
    }
    return text;
  }

  setsockopt(fd: number, option: number, value: number): number {
    const entry = this.entries.get(fd);
    if (!entry) return -HostError.BADF;
    if (entry.kind === 'fresh') {
      // Not bound yet: remember, and apply once toxcore's bind hands us the host socket.
      if (option === HostOption.BROADCAST) entry.broadcast = true;
      if (option === HostOption.JOIN_FF02_1) entry.joinFf02 = true;
      if (option === HostOption.RCVBUF) entry.receiveBuffer = value;
      if (option === HostOption.SNDBUF) entry.sendBuffer = value;
      return 0;
    }
    if (entry.kind === 'udp') this.applyOption(entry, option, value);
    return 0;
  }

  private applyOption(entry: UdpEntry, option: number, value: number): void {
    // Deno's node:dgram does not pass a buffer size to the OS: it keeps the number and reads
    // every datagram into a fresh zeroed buffer of that size. toxcore's 2 MiB RCVBUF made each
    // received packet cost a 2 MiB allocation (Deno server: 883 ms of CPU per MB, 0.7 MB/s).
    if ((option === HostOption.RCVBUF || option === HostOption.SNDBUF) && runtimeName() === 'deno') return;
    try {
      if (option === HostOption.BROADCAST) entry.socket.setBroadcast(true);
      if (option === HostOption.JOIN_FF02_1) entry.socket.addMembership('ff02::1');
      if (option === HostOption.RCVBUF) entry.socket.setRecvBufferSize(value);
      if (option === HostOption.SNDBUF) entry.socket.setSendBufferSize(value);
    } catch {
      /* not supported here (no IPv6 multicast, no broadcast route, buffer over the OS
         limit): LAN discovery or burst tolerance degrades, the node still works */
    }
  }

  /** The receive buffer the OS gave a UDP socket (for diagnostics and tests). */
  udpReceiveBufferSizes(): number[] {
    const sizes: number[] = [];
    for (const entry of this.entries.values()) if (entry.kind === 'udp') sizes.push(entry.socket.getRecvBufferSize());
    return sizes;
  }
}

