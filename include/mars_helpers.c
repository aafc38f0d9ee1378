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

int mars_helper_rq_segments(struct request *rq, struct mars_segment *out, unsigned int max)
{
	struct req_iterator iter;
	struct bio_vec bv;
	unsigned int n = 0;

	rq_for_each_segment(bv, rq, iter) {
		struct mars_segment *last = n ? &out[n - 1] : NULL;

		if (last && last->page == bv.bv_page &&
		    last->offset + last->len == bv.bv_offset) {
			last->len += bv.bv_len;
			continue;
		}
		if (n >= max)
			return -E2BIG;
		out[n].page = bv.bv_page;
		out[n].offset = bv.bv_offset;
		out[n].len = bv.bv_len;
		n++;
	}
	return n;
}

sector_t mars_helper_blk_rq_pos(struct request *rq)
{
	return blk_rq_pos(rq);
}

unsigned int mars_helper_blk_rq_bytes(struct request *rq)
{
	return blk_rq_bytes(rq);
}

loff_t mars_helper_bdev_nr_bytes(struct block_device *bdev)
{
	return bdev_nr_bytes(bdev);
}

unsigned int mars_helper_bdev_logical_block_size(struct block_device *bdev)
{
	return bdev_logical_block_size(bdev);
}
