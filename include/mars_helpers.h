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
#include <linux/crc32c.h>
#include <linux/fs.h>
#include <linux/mount.h>
#include <linux/namei.h>
#include <linux/wait.h>

/* memalloc_noio_save()/restore(): allocations in the scope never recurse into block IO. */
unsigned int mars_helper_memalloc_noio_save(void);
void mars_helper_memalloc_noio_restore(unsigned int flags);

/* init_waitqueue_head(): a macro that gives every initialised head one lockdep class. */
void mars_helper_init_waitqueue_head(struct wait_queue_head *head);

/* inode_lock(), inode_lock_nested(dir, I_MUTEX_PARENT), inode_unlock(). */
void mars_helper_inode_lock(struct inode *inode);
void mars_helper_inode_lock_parent(struct inode *dir);
void mars_helper_inode_unlock(struct inode *inode);

/* mnt_idmap(): the idmapping of a mount. */
struct mnt_idmap *mars_helper_mnt_idmap(const struct vfsmount *mnt);

/* do_delayed_call(): releases what vfs_get_link() handed out. */
void mars_helper_do_delayed_call(struct delayed_call *call);

/*
 * Copies init_utsname()->nodename into buf (NUL-terminated, truncated to len). uts_sem is not
 * exported, so a concurrent sethostname() may be seen half-done: callers validate the name.
 */
void mars_helper_nodename(char *buf, size_t len);

#endif /* MARS_HELPERS_H */
