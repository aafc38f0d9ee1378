// SPDX-License-Identifier: GPL-2.0
/* C helpers of mars.ko: see mars_helpers.h. */
#include <linux/sched/mm.h>

#include "mars_helpers.h"

unsigned int mars_helper_memalloc_noio_save(void)
{
	return memalloc_noio_save();
}

void mars_helper_memalloc_noio_restore(unsigned int flags)
{
	memalloc_noio_restore(flags);
}

void mars_helper_crypto_free_shash(struct crypto_shash *tfm)
{
	crypto_free_shash(tfm);
}

unsigned int mars_helper_crypto_shash_digestsize(struct crypto_shash *tfm)
{
	return crypto_shash_digestsize(tfm);
}

size_t mars_helper_lz4_mem_compress(void)
{
	return LZ4_MEM_COMPRESS;
}
