/* SPDX-License-Identifier: GPL-3.0-or-later
 * toxtunnel: the XSalsa20-Poly1305 box of every net_crypto packet, with Salsa20 four blocks at
 * a time in WebAssembly SIMD (wasm/tt_box.c). Same bytes as libsodium's crypto_box_easy_afternm
 * and crypto_box_open_easy_afternm, which toxcore's encrypt_data_symmetric and
 * decrypt_data_symmetric call through wasm/patches/0008.
 */
#ifndef TT_BOX_H
#define TT_BOX_H

#include <stddef.h>
#include <stdint.h>

/* The MAC (16 bytes), then `length` bytes of ciphertext, into `out`. 0, or -1 on failure. */
int tt_box_seal(uint8_t *out, const uint8_t *plain, size_t length, const uint8_t nonce[24], const uint8_t key[32]);

/* The plaintext of `length` bytes of box (MAC first) into `out`, or -1 (nothing written) when
 * the MAC does not check or the box is shorter than one. */
int tt_box_open(uint8_t *out, const uint8_t *box, size_t length, const uint8_t nonce[24], const uint8_t key[32]);

/* Compares the two with libsodium on fixed inputs; on any difference both use libsodium from
 * then on. Returns 1 when the SIMD path is in use. Called by tt_init. */
int tt_box_self_test(void);

#endif
