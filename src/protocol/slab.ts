// SPDX-License-Identifier: GPL-3.0-or-later
/**
 * Small byte arrays carved out of shared slabs, for what the data path makes per packet (an
 * encoded frame, a datagram to send, a packet received from toxcore): a fresh Uint8Array of its
 * own costs an ArrayBuffer per 1.4 kB packet, which was measurable at tens of thousands of
 * packets a second. A slab is never reused: a full one is dropped and lives on only as long
 * as arrays carved from it do, so an array stays valid (and unshared) for as long as it is
 * held. The arrays are plain Uint8Arrays: `slice` still copies.
 */
export class Slab {
  private slab = new ArrayBuffer(0);
  private used = 0;

  constructor(private readonly slabSize = 256 * 1024) {}

  /** `length` bytes, contents undefined (the caller fills every byte). */
  alloc(length: number): Uint8Array {
    if (length > this.slabSize / 4) return new Uint8Array(length);
    if (this.used + length > this.slab.byteLength) {
      this.slab = new ArrayBuffer(this.slabSize);
      this.used = 0;
    }
    const bytes = new Uint8Array(this.slab, this.used, length);
    this.used += (length + 7) & ~7; // 8-byte aligned
    return bytes;
  }

  /** A copy of `source`. */
  copy(source: Uint8Array): Uint8Array {
    const bytes = this.alloc(source.length);
    bytes.set(source);
    return bytes;
  }
}
