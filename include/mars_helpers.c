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
