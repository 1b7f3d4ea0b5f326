// SPDX-License-Identifier: GPL-3.0-or-later
/**
 * Loading the toxcore wasm module (once per process) and the host object its imports call
 * (wasm/library_tt_host.js forwards every tt_host_* / tt_event_* import here).
 *
 * The wasm bytes are embedded (build/wasm/toxcore-binary.mjs, base64) and instantiated here
 * (emscripten's `instantiateWasm` hook), so nothing is fetched or read from disk: the same code
 * runs from the bundle on Node, Bun and Deno. Nothing keeps the bytes once the module is
 * compiled (handed over as `wasmBinary`, emscripten kept them, 0.35 MiB, for good).
 * `loadToxcore()` is memoised; after a failure the next call tries again.
 */
import { Buffer } from 'node:buffer';
import { setFlagsFromString } from 'node:v8';
import createToxcoreModule from '../../build/wasm/toxcore.mjs';
import toxcoreWasmBase64 from '../../build/wasm/toxcore-binary.mjs';
import { ToxtunnelError } from '../errors.ts';
import { SocketTable, type SocketOwner } from '../net/socket-table.ts';
import { EXPORTED_FUNCTION_NAMES, type ToxcoreExports } from './ffi.ts';
import { Slab } from '../protocol/slab.ts';
import { readCString } from './memory.ts';

/** What a node receives from C. Calls arrive during tt_tox_iterate / tt_tox_new. */
export interface NodeEventSink extends SocketOwner {
  onSelfConnection(status: number): void;
  onFriendRequest(publicKey: Uint8Array, message: Uint8Array): void;
  onFriendConnection(friendNumber: number, status: number): void;
  onFriendLosslessPacket(friendNumber: number, data: Uint8Array): void;
  onLog(level: number, file: string, line: number, func: string, message: string): void;
}

/** The largest block crypto.getRandomValues fills in one call (Web Crypto's quota). */
const RANDOM_CHUNK = 65536;

export class ToxcoreModule {
  readonly sockets: SocketTable;
  private readonly sinks = new Map<number, NodeEventSink>();
  private nextNodeId = 1;
  private readonly packets = new Slab();
  private heapView = new Uint8Array(0);

  constructor(readonly exports: ToxcoreExports) {
    this.sockets = new SocketTable(() => this.heap());
  }

  /** A view of the whole heap: the same object until the memory grows (it is asked per packet). */
  heap(): Uint8Array {
    const buffer = this.exports.memory.buffer;
    if (this.heapView.buffer !== buffer) this.heapView = new Uint8Array(buffer);
    return this.heapView;
  }

  register(sink: NodeEventSink): number {
    const id = this.nextNodeId++;
    this.sinks.set(id, sink);
    return id;
  }

  unregister(id: number): void {
    this.sinks.delete(id);
  }

  /** Runs a C call on behalf of `owner`: sockets toxcore creates meanwhile belong to it. */
  callAs<T>(owner: SocketOwner, call: () => T): T {
    const previous = this.sockets.currentOwner;
    this.sockets.currentOwner = owner;
    try {
      return call();
    } finally {
      this.sockets.currentOwner = previous;
    }
  }

  /** The object behind `Module.ttHost`: one method per import of wasm/tt_host.h. */
  hostImports(): Record<string, (...args: number[]) => number | void> {
    const s = this.sockets;
    const sink = (node: number) => this.sinks.get(node);
    return {
      hostSocket: (family, type) => s.socket(family!, type!),
      hostClose: (fd) => s.close(fd!),
      hostBind: (fd, family, ip, port) => s.bind(fd!, family!, ip!, port!),
      hostListen: (fd) => s.listen(fd!),
      hostAccept: (fd) => s.accept(fd!),
      hostConnect: (fd, family, ip, port) => s.connect(fd!, family!, ip!, port!),
      hostRecvbuf: (fd) => s.recvbuf(fd!),
      hostRecv: (fd, buf, len) => s.recv(fd!, buf!, len!),
      hostRecvfrom: (fd, buf, len, addr) => s.recvfrom(fd!, buf!, len!, addr!),
      hostSend: (fd, buf, len) => s.send(fd!, buf!, len!),
      hostSendto: (fd, buf, len, family, ip, port) => s.sendto(fd!, buf!, len!, family!, ip!, port!),
      hostSetsockopt: (fd, option, value) => s.setsockopt(fd!, option!, value!),
      hostRandom: (buf, len) => fillRandom(this.heap(), buf!, len!),
      eventSelfConnection: (node, status) => sink(node!)?.onSelfConnection(status!),
      eventFriendRequest: (node, pk, msg, len) => {
        const heap = this.heap();
        sink(node!)?.onFriendRequest(heap.slice(pk!, pk! + 32), heap.slice(msg!, msg! + len!));
      },
      eventFriendConnection: (node, friend, status) => sink(node!)?.onFriendConnection(friend! >>> 0, status!),
      eventFriendLosslessPacket: (node, friend, data, len) =>
        sink(node!)?.onFriendLosslessPacket(friend! >>> 0, this.packets.copy(this.heap().subarray(data!, data! + len!))),
      eventLog: (node, level, file, line, func, message) => {
        const heap = this.heap();
        sink(node!)?.onLog(level!, readCString(heap, file!), line!, readCString(heap, func!), readCString(heap, message!));
      },
    };
  }
}

/**
 * Small requests (toxcore's nonces, random node picks: several per DHT or onion packet) are
 * served from a pool filled by one getRandomValues call per RANDOM_POOL bytes: one call per
 * request was ~5 % of an idle process's CPU (webcrypto's checks each time). Each byte is handed
 * out once and wiped from the pool as it is.
 */
const RANDOM_POOL = 1024;
const randomPool = new Uint8Array(RANDOM_POOL);
let randomPoolUsed = RANDOM_POOL;

function fillRandom(heap: Uint8Array, ptr: number, length: number): void {
  if (length <= RANDOM_POOL / 8) {
    if (RANDOM_POOL - randomPoolUsed < length) {
      globalThis.crypto.getRandomValues(randomPool);
      randomPoolUsed = 0;
    }
    heap.set(randomPool.subarray(randomPoolUsed, randomPoolUsed + length), ptr);
    randomPool.fill(0, randomPoolUsed, randomPoolUsed + length);
    randomPoolUsed += length;
    return;
  }
  for (let offset = 0; offset < length; offset += RANDOM_CHUNK) {
    globalThis.crypto.getRandomValues(heap.subarray(ptr + offset, ptr + Math.min(length, offset + RANDOM_CHUNK)));
  }
}

function requireCsprng(): void {
  const crypto = globalThis.crypto as Crypto | undefined;
  if (typeof crypto?.getRandomValues !== 'function') {
    throw new ToxtunnelError(
      'NO_CSPRNG',
      'this runtime has no crypto.getRandomValues: toxtunnel will not make keys without a secure random source (use Node >= 20, Bun or Deno)',
    );
  }
}

/**
 * The smallest module that uses a 128-bit vector: (func (result v128) v128.const i32x4 0 0 0 0).
 * Binary format: magic and version; type section (one func type, no params, result v128 =
 * 0x7b); function section; code section (no locals, v128.const = 0xfd 0x0c and 16 bytes, end).
 */
const WASM_SIMD_PROBE: Uint8Array<ArrayBuffer> = new Uint8Array([
  0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00, 0x01, 0x05, 0x01, 0x60, 0x00, 0x01, 0x7b, 0x03, 0x02, 0x01, 0x00,
  0x0a, 0x16, 0x01, 0x14, 0x00, 0xfd, 0x0c, ...new Array<number>(16).fill(0), 0x0b,
]);

/** True when the runtime's WebAssembly has 128-bit SIMD (the packet cipher, wasm/tt_box.c, uses it). */
export function hasWasmSimd(validate: (bytes: Uint8Array<ArrayBuffer>) => boolean = (bytes) => WebAssembly.validate(bytes)): boolean {
  try {
    return validate(WASM_SIMD_PROBE);
  } catch {
    return false;
  }
}

/** Without SIMD the module would not compile at all: say so instead of WebAssembly's CompileError. */
export function requireWasmSimd(validate?: (bytes: Uint8Array<ArrayBuffer>) => boolean): void {
  if (!hasWasmSimd(validate)) {
    throw new ToxtunnelError(
      'NO_WASM_SIMD',
      "this runtime's WebAssembly has no SIMD (128-bit vectors), which toxtunnel's packet encryption uses: use Node >= 20, Bun or Deno",
    );
  }
}

let loading: Promise<ToxcoreModule> | undefined;

/** Loads and initialises the wasm module (once; retried after a failure). */
export function loadToxcore(): Promise<ToxcoreModule> {
  loading ??= instantiate().catch((error: unknown) => {
    loading = undefined;
    throw error;
  });
  return loading;
}

/**
 * V8 (Node, Deno) first compiles wasm with its baseline compiler and optimises a function only
 * once it has run for a while ("dynamic tiering"): the first megabytes of a transfer ran
 * through unoptimised crypto. Without dynamic tiering V8 optimises the whole module in the
 * background right after the baseline compile. First 4 MB on a fresh tunnel (loopback, shared
 * machine, 7 interleaved runs each): median 16.0 -> 19.8 MB/s; about 70 ms more CPU at start,
 * RSS unchanged. Must run before the module is compiled; Bun (JavaScriptCore) has the function
 * and ignores it.
 */
function optimiseWasmEagerly(): void {
  try {
    setFlagsFromString('--no-wasm-dynamic-tiering');
  } catch {
    /* a runtime without V8 flags: it tiers as it likes */
  }
}

async function instantiate(): Promise<ToxcoreModule> {
  requireCsprng();
  requireWasmSimd();
  optimiseWasmEagerly();
  // Filled once the exports exist; emscripten keeps this very object as Module.ttHost.
  const ttHost: Record<string, unknown> = {};
  let failed: (error: unknown) => void = () => {};
  const failure = new Promise<never>((_, reject) => (failed = reject));
  const emscripten = await Promise.race([
    createToxcoreModule({
      instantiateWasm: (imports: WebAssembly.Imports, receive: (instance: WebAssembly.Instance) => void) => {
        WebAssembly.instantiate(Buffer.from(toxcoreWasmBase64(), 'base64'), imports).then((result) => receive(result.instance), failed);
        return {}; // emscripten waits for `receive`
      },
      ttHost,
      print: () => {},
      printErr: () => {},
    }),
    failure,
  ]);
  const asm = emscripten.asm as Record<string, unknown>;
  const exports: Record<string, unknown> = { memory: asm.memory };
  for (const name of EXPORTED_FUNCTION_NAMES) {
    if (typeof asm[name] !== 'function') throw new Error(`toxcore wasm lacks the export ${name}: rebuild with ./build.sh`);
    exports[name] = asm[name];
  }
  const toxcore = new ToxcoreModule(exports as unknown as ToxcoreExports);
  Object.assign(ttHost, toxcore.hostImports());
  if (toxcore.exports.tt_init() !== 0) {
    throw new ToxtunnelError('WASM_INIT_FAILED', 'libsodium failed to initialise inside the wasm module');
  }
  return toxcore;
}
