// SPDX-License-Identifier: GPL-2.0
/* C helpers of mars.ko: see mars_helpers.h. */
#include <linux/sched/mm.h>
#include <linux/string.h>
#include <linux/utsname.h>

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

void mars_helper_init_waitqueue_head(struct wait_queue_head *head)
{
	init_waitqueue_head(head);
}

void mars_helper_inode_lock(struct inode *inode)
{
	inode_lock(inode);
}

void mars_helper_inode_lock_parent(struct inode *dir)
{
	inode_lock_nested(dir, I_MUTEX_PARENT);
}

void mars_helper_inode_unlock(struct inode *inode)
{
	inode_unlock(inode);
}

void mars_helper_spin_lock_init(spinlock_t *lock)
{
	spin_lock_init(lock);
}

unsigned long mars_helper_spin_lock_irqsave(spinlock_t *lock)
{
	unsigned long flags;

	spin_lock_irqsave(lock, flags);
	return flags;
}

void mars_helper_spin_unlock_irqrestore(spinlock_t *lock, unsigned long flags)
{
	spin_unlock_irqrestore(lock, flags);
}

loff_t mars_helper_file_size(struct file *file)
{
	return i_size_read(file_inode(file));
}

int mars_helper_statfs(struct file *file, u64 *blocks, u64 *block_size)
{
	struct kstatfs st = {};
	int err = vfs_statfs(&file->f_path, &st);

	*blocks = st.f_blocks;
	*block_size = st.f_bsize;
	return err;
}

struct mnt_idmap *mars_helper_mnt_idmap(const struct vfsmount *mnt)
{
	return mnt_idmap(mnt);
}

void mars_helper_do_delayed_call(struct delayed_call *call)
{
	do_delayed_call(call);
}

void mars_helper_nodename(char *buf, size_t len)
{
	strscpy(buf, init_utsname()->nodename, len);
}

int mars_helper_rq_for_each_segment(struct request *rq,
				    int (*fn)(void *ctx, struct page *page, unsigned int offset,
					      unsigned int len),
				    void *ctx)
{
	struct req_iterator iter;
	struct bio_vec bv;
	int ret;

	rq_for_each_segment(bv, rq, iter) {
		ret = fn(ctx, bv.bv_page, bv.bv_offset, bv.bv_len);
		if (ret)
			return ret;
	}
	return 0;
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
