// SPDX-License-Identifier: GPL-3.0-or-later
/**
 * Scratch memory in the wasm heap, for the arguments and out-parameters of one C call.
 * `withScratch` frees everything it handed out on every exit path, so no caller can leak.
 * The heap can grow (and its ArrayBuffer be replaced) during any C call: always take a fresh
 * view with `heap()` after one.
 */
import type { BytePtr, ErrPtr, ToxcoreExports } from './ffi.ts';

export class Scratch {
  private readonly allocated: number[] = [];
  constructor(private readonly exports: ToxcoreExports) {}

  heap(): Uint8Array {
    return new Uint8Array(this.exports.memory.buffer);
  }

  bytes(length: number): BytePtr {
    const ptr = this.exports.malloc(Math.max(1, length));
    if (ptr === 0) throw new RangeError(`wasm heap exhausted allocating ${length} bytes`);
    this.allocated.push(ptr);
    return ptr as BytePtr;
  }

  /** Copies `data` into fresh scratch memory. */
  copyIn(data: Uint8Array): BytePtr {
    const ptr = this.bytes(data.length);
    this.heap().set(data, ptr);
    return ptr;
  }

  /** A NUL-terminated UTF-8 string. */
  cString(text: string): BytePtr {
    const encoded = new TextEncoder().encode(text);
    const ptr = this.bytes(encoded.length + 1);
    const heap = this.heap();
    heap.set(encoded, ptr);
    heap[ptr + encoded.length] = 0;
    return ptr;
  }

  /** A zeroed 4-byte out-parameter for a toxcore error enum. */
  err(): ErrPtr {
    const ptr = this.bytes(4);
    this.heap().fill(0, ptr, ptr + 4);
    return ptr as number as ErrPtr;
  }

  readErr(ptr: ErrPtr): number {
    return new DataView(this.exports.memory.buffer).getInt32(ptr, true);
  }

  copyOut(ptr: number, length: number): Uint8Array {
    return this.heap().slice(ptr, ptr + length);
  }

  freeAll(): void {
    for (const ptr of this.allocated) this.exports.free(ptr);
    this.allocated.length = 0;
  }
}

export function withScratch<T>(exports: ToxcoreExports, use: (scratch: Scratch) => T): T {
  const scratch = new Scratch(exports);
  try {
    return use(scratch);
  } finally {
    scratch.freeAll();
  }
}

const utf8 = new TextDecoder('utf-8', { fatal: false });

/** Reads a NUL-terminated UTF-8 string (at most `limit` bytes). */
export function readCString(heap: Uint8Array, ptr: number, limit = 4096): string {
  if (ptr === 0) return '';
  let end = ptr;
  const max = Math.min(heap.length, ptr + limit);
  while (end < max && heap[end] !== 0) end++;
  return utf8.decode(heap.subarray(ptr, end));
}
