/* SPDX-License-Identifier: GPL-2.0 */
/*
 * C helpers of mars.ko. This header is both compiled into mars_helpers.c and the input of the
 * module's own bindgen run (see Kbuild), so the Rust declarations are generated, never typed
 * by hand. Only rust/kapi/ uses them.
 *
 * A helper exists here only for what Rust cannot call directly: static inline functions and
 * macros. Exported kernel functions missing from kernel::bindings are reached by including
 * their header here and naming them in the bindgen allowlist.
 */
#ifndef MARS_HELPERS_H
#define MARS_HELPERS_H

#include <linux/types.h>
#include <linux/crc32.h>
#include <linux/crc32c.h>
#include <linux/lz4.h>
#include <crypto/hash.h>

/* memalloc_noio_save()/restore(): allocations in the scope never recurse into block IO. */
unsigned int mars_helper_memalloc_noio_save(void);
void mars_helper_memalloc_noio_restore(unsigned int flags);

/* crypto_free_shash() and crypto_shash_digestsize() are static inline. */
void mars_helper_crypto_free_shash(struct crypto_shash *tfm);
unsigned int mars_helper_crypto_shash_digestsize(struct crypto_shash *tfm);

/* LZ4_MEM_COMPRESS: the work memory LZ4_compress_default() needs (a sizeof expression). */
size_t mars_helper_lz4_mem_compress(void);

#endif /* MARS_HELPERS_H */
