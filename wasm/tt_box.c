/* SPDX-License-Identifier: GPL-3.0-or-later
 * toxtunnel: XSalsa20-Poly1305 (NaCl's crypto_box after the key exchange; libsodium's
 * crypto_box_easy_afternm) with the Salsa20 stream computed four blocks at a time in
 * WebAssembly SIMD (wasm_simd128.h, i32x4 lanes: lane b holds block b's words).
 *
 * Why: every net_crypto data packet is sealed once and opened once, and libsodium picks its
 * SIMD Salsa20 only from x86 CPU features, which wasm does not report: its portable Salsa20
 * (one block, 32-bit scalar) was about 15 % of each process's CPU in a bulk transfer, the
 * byte-wise XOR of the keystream 4 % more.
 *
 * The construction (as in libsodium's crypto_secretbox_detached):
 *   subkey  = HSalsa20(key, nonce[0..16))
 *   stream  = Salsa20(subkey, nonce[16..24), block counter 0, 1, 2, ...)
 *   ciphertext = plaintext XOR stream[32..)      (stream[0..32) is the Poly1305 key)
 *   box     = Poly1305(ciphertext, stream[0..32)) || ciphertext
 * HSalsa20 and Poly1305 stay libsodium's; only the stream is ours. tt_box_self_test compares
 * the result with libsodium's at start-up, and any difference sends every packet back through
 * libsodium. Overlapping input and output also go through libsodium.
 */
#include <sodium.h>
#include <stdint.h>
#include <string.h>
#include <wasm_simd128.h>

#include "tt_box.h"

static int simd_ok = 0;

static uint32_t load32(const uint8_t *p)
{
    uint32_t v;
    memcpy(&v, p, 4); /* wasm is little-endian, as Salsa20's words are */
    return v;
}

#define ROTL(v, n) wasm_v128_or(wasm_i32x4_shl((v), (n)), wasm_u32x4_shr((v), 32 - (n)))
#define QR(a, b, c, d)                                 \
    b = wasm_v128_xor(b, ROTL(wasm_i32x4_add(a, d), 7));  \
    c = wasm_v128_xor(c, ROTL(wasm_i32x4_add(b, a), 9));  \
    d = wasm_v128_xor(d, ROTL(wasm_i32x4_add(c, b), 13)); \
    a = wasm_v128_xor(a, ROTL(wasm_i32x4_add(d, c), 18))

/* Keystream blocks `counter`..`counter+3` XOR 256 bytes of `in` into `out` (the keystream
 * itself when `in` is NULL). `in_words`: the 16 input words, the counter words (8, 9) ignored. */
static void salsa20_xor4(uint8_t *out, const uint8_t *in, const uint32_t in_words[16], uint64_t counter)
{
    v128_t j[16];
    for (int i = 0; i < 16; i++) {
        j[i] = wasm_i32x4_splat((int32_t)in_words[i]);
    }
    const uint64_t c0 = counter, c1 = counter + 1, c2 = counter + 2, c3 = counter + 3;
    j[8] = wasm_i32x4_make((int32_t)c0, (int32_t)c1, (int32_t)c2, (int32_t)c3);
    j[9] = wasm_i32x4_make((int32_t)(c0 >> 32), (int32_t)(c1 >> 32), (int32_t)(c2 >> 32), (int32_t)(c3 >> 32));

    v128_t x0 = j[0], x1 = j[1], x2 = j[2], x3 = j[3], x4 = j[4], x5 = j[5], x6 = j[6], x7 = j[7];
    v128_t x8 = j[8], x9 = j[9], x10 = j[10], x11 = j[11], x12 = j[12], x13 = j[13], x14 = j[14], x15 = j[15];
    for (int round = 0; round < 20; round += 2) {
        /* columns */
        QR(x0, x4, x8, x12);
        QR(x5, x9, x13, x1);
        QR(x10, x14, x2, x6);
        QR(x15, x3, x7, x11);
        /* rows */
        QR(x0, x1, x2, x3);
        QR(x5, x6, x7, x4);
        QR(x10, x11, x8, x9);
        QR(x15, x12, x13, x14);
    }
    v128_t x[16] = {x0, x1, x2, x3, x4, x5, x6, x7, x8, x9, x10, x11, x12, x13, x14, x15};

    /* Word i of block b is lane b of x[i] + j[i]: transpose 4x4 word groups into blocks. */
    for (int i = 0; i < 16; i += 4) {
        const v128_t a = wasm_i32x4_add(x[i], j[i]);
        const v128_t b = wasm_i32x4_add(x[i + 1], j[i + 1]);
        const v128_t c = wasm_i32x4_add(x[i + 2], j[i + 2]);
        const v128_t d = wasm_i32x4_add(x[i + 3], j[i + 3]);
        const v128_t ab01 = wasm_i32x4_shuffle(a, b, 0, 4, 1, 5);
        const v128_t ab23 = wasm_i32x4_shuffle(a, b, 2, 6, 3, 7);
        const v128_t cd01 = wasm_i32x4_shuffle(c, d, 0, 4, 1, 5);
        const v128_t cd23 = wasm_i32x4_shuffle(c, d, 2, 6, 3, 7);
        const v128_t blocks[4] = {
            wasm_i64x2_shuffle(ab01, cd01, 0, 2),
            wasm_i64x2_shuffle(ab01, cd01, 1, 3),
            wasm_i64x2_shuffle(ab23, cd23, 0, 2),
            wasm_i64x2_shuffle(ab23, cd23, 1, 3),
        };
        for (int block = 0; block < 4; block++) {
            const size_t at = (size_t)block * 64 + (size_t)i * 4;
            wasm_v128_store(out + at, in == NULL ? blocks[block] : wasm_v128_xor(wasm_v128_load(in + at), blocks[block]));
        }
    }
}

/* Salsa20 of `subkey` and the 8-byte `nonce` from block `counter` on, XOR `length` bytes. */
static void salsa20_xor(uint8_t *out, const uint8_t *in, size_t length, const uint8_t nonce[8], uint64_t counter, const uint8_t subkey[32])
{
    uint32_t words[16] = {0};
    words[0] = 0x61707865;
    words[5] = 0x3320646e;
    words[10] = 0x79622d32;
    words[15] = 0x6b206574;
    for (int i = 0; i < 4; i++) {
        words[1 + i] = load32(subkey + 4 * i);
        words[11 + i] = load32(subkey + 16 + 4 * i);
    }
    words[6] = load32(nonce);
    words[7] = load32(nonce + 4);

    while (length >= 256) {
        salsa20_xor4(out, in, words, counter);
        out += 256;
        in += 256;
        length -= 256;
        counter += 4;
    }
    if (length > 0) {
        uint8_t stream[256];
        salsa20_xor4(stream, NULL, words, counter);
        for (size_t i = 0; i < length; i++) {
            out[i] = in[i] ^ stream[i];
        }
        sodium_memzero(stream, sizeof(stream));
    }
    sodium_memzero(words, sizeof(words));
}

/* The subkey and the first block of the stream (its first 32 bytes are the Poly1305 key). */
static void first_block(uint8_t subkey[32], uint8_t block0[64], const uint8_t nonce[24], const uint8_t key[32])
{
    static const uint8_t zeros[64];
    crypto_core_hsalsa20(subkey, nonce, key, NULL);
    salsa20_xor(block0, zeros, 64, nonce + 16, 0, subkey);
}

static int overlap(const uint8_t *a, size_t a_length, const uint8_t *b, size_t b_length)
{
    return a < b + b_length && b < a + a_length;
}

static int sodium_seal(uint8_t *out, const uint8_t *plain, size_t length, const uint8_t nonce[24], const uint8_t key[32])
{
    return crypto_box_easy_afternm(out, plain, length, nonce, key);
}

static int sodium_open(uint8_t *out, const uint8_t *box, size_t length, const uint8_t nonce[24], const uint8_t key[32])
{
    return crypto_box_open_easy_afternm(out, box, length, nonce, key);
}

static int simd_seal(uint8_t *out, const uint8_t *plain, size_t length, const uint8_t nonce[24], const uint8_t key[32])
{
    uint8_t subkey[32], block0[64];
    first_block(subkey, block0, nonce, key);
    uint8_t *cipher = out + crypto_box_MACBYTES;
    const size_t head = length < 32 ? length : 32;
    for (size_t i = 0; i < head; i++) {
        cipher[i] = plain[i] ^ block0[32 + i];
    }
    salsa20_xor(cipher + head, plain + head, length - head, nonce + 16, 1, subkey);
    crypto_onetimeauth_poly1305(out, cipher, length, block0);
    sodium_memzero(subkey, sizeof(subkey));
    sodium_memzero(block0, sizeof(block0));
    return 0;
}

static int simd_open(uint8_t *out, const uint8_t *box, size_t length, const uint8_t nonce[24], const uint8_t key[32])
{
    if (length < crypto_box_MACBYTES) {
        return -1;
    }
    uint8_t subkey[32], block0[64];
    first_block(subkey, block0, nonce, key);
    const uint8_t *cipher = box + crypto_box_MACBYTES;
    const size_t plain_length = length - crypto_box_MACBYTES;
    int result = -1;
    if (crypto_onetimeauth_poly1305_verify(box, cipher, plain_length, block0) == 0) {
        const size_t head = plain_length < 32 ? plain_length : 32;
        for (size_t i = 0; i < head; i++) {
            out[i] = cipher[i] ^ block0[32 + i];
        }
        salsa20_xor(out + head, cipher + head, plain_length - head, nonce + 16, 1, subkey);
        result = 0;
    }
    sodium_memzero(subkey, sizeof(subkey));
    sodium_memzero(block0, sizeof(block0));
    return result;
}

int tt_box_seal(uint8_t *out, const uint8_t *plain, size_t length, const uint8_t nonce[24], const uint8_t key[32])
{
    if (!simd_ok || overlap(out, length + crypto_box_MACBYTES, plain, length)) {
        return sodium_seal(out, plain, length, nonce, key);
    }
    return simd_seal(out, plain, length, nonce, key);
}

int tt_box_open(uint8_t *out, const uint8_t *box, size_t length, const uint8_t nonce[24], const uint8_t key[32])
{
    if (!simd_ok || length < crypto_box_MACBYTES || overlap(out, length - crypto_box_MACBYTES, box, length)) {
        return sodium_open(out, box, length, nonce, key);
    }
    return simd_open(out, box, length, nonce, key);
}

int tt_box_self_test(void)
{
    /* Lengths around every boundary: the 32 bytes of block 0, the 256-byte SIMD step, a full
     * 1.4 kB packet; fixed key, nonce and message (any difference is a bug, not bad luck). */
    static const size_t lengths[] = {1, 31, 32, 33, 63, 64, 65, 95, 96, 97, 287, 288, 289, 543, 544, 545, 1000, 1389, 1400};
    enum { MAX = 1400 };
    static uint8_t plain[MAX], mine[MAX + 16], theirs[MAX + 16], opened[MAX];
    uint8_t key[32], nonce[24];
    for (size_t i = 0; i < sizeof(key); i++) key[i] = (uint8_t)(7 * i + 1);
    for (size_t i = 0; i < sizeof(nonce); i++) nonce[i] = (uint8_t)(13 * i + 5);
    for (size_t i = 0; i < MAX; i++) plain[i] = (uint8_t)(i * 31 + (i >> 8));
    int ok = 1;
    for (size_t n = 0; ok && n < sizeof(lengths) / sizeof(lengths[0]); n++) {
        const size_t length = lengths[n];
        ok = simd_seal(mine, plain, length, nonce, key) == 0
             && sodium_seal(theirs, plain, length, nonce, key) == 0
             && memcmp(mine, theirs, length + 16) == 0
             && simd_open(opened, mine, length + 16, nonce, key) == 0
             && memcmp(opened, plain, length) == 0;
        if (ok) {
            mine[length / 2 + 16] ^= 1; /* a damaged box must not open */
            ok = simd_open(opened, mine, length + 16, nonce, key) == -1;
        }
        nonce[0]++;
    }
    simd_ok = ok;
    return ok;
}
