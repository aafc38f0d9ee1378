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
#include <linux/lzo.h>
#include <linux/zlib.h>

#include <linux/fs.h>
#include <linux/mount.h>
#include <linux/namei.h>
#include <linux/wait.h>
#include <linux/blkdev.h>
#include <linux/blk-mq.h>
#include <linux/bio.h>
#include <linux/statfs.h>
#include <crypto/hash.h>
#include <linux/net.h>

/* memalloc_noio_save()/restore(): allocations in the scope never recurse into block IO. */
unsigned int mars_helper_memalloc_noio_save(void);
void mars_helper_memalloc_noio_restore(unsigned int flags);

/* crypto_free_shash() and crypto_shash_digestsize() are static inline. */
void mars_helper_crypto_free_shash(struct crypto_shash *tfm);
unsigned int mars_helper_crypto_shash_digestsize(struct crypto_shash *tfm);

/* LZ4_MEM_COMPRESS: the work memory LZ4_compress_default() needs (a sizeof expression). */
size_t mars_helper_lz4_mem_compress(void);

/*
 * zlib in one call per buffer, over a caller-owned workspace (struct z_stream_s stays on the C
 * side; zlib_inflateInit()/zlib_deflateInit() are macros). Streams with the zlib header, as
 * the original MARS writes them (zlib_deflateInit(level): window 15 bits, memory level 8).
 * The workspace sizes are what the calls need. Both return the output length, or a negative
 * errno: -EINVAL for a malformed stream or one that does not end within @src_len (inflate),
 * -ENOSPC when the output does not fit into @dst_len.
 */
size_t mars_helper_zlib_inflate_workspacesize(void);
size_t mars_helper_zlib_deflate_workspacesize(void);
long mars_helper_zlib_inflate(void *workspace, const void *src, size_t src_len, void *dst, size_t dst_len);
long mars_helper_zlib_deflate(void *workspace, int level, const void *src, size_t src_len, void *dst, size_t dst_len);

/* init_waitqueue_head(): a macro that gives every initialised head one lockdep class. */
void mars_helper_init_waitqueue_head(struct wait_queue_head *head);

/*
 * spin_lock_init(), spin_lock_irqsave(), spin_unlock_irqrestore(): a spinlock that completions
 * in hardirq context may take (kapi::sync::IrqSpinLock). All share one lockdep class: never
 * nest two of them.
 */
void mars_helper_spin_lock_init(spinlock_t *lock);
unsigned long mars_helper_spin_lock_irqsave(spinlock_t *lock);
void mars_helper_spin_unlock_irqrestore(spinlock_t *lock, unsigned long flags);

/* inode_lock(), inode_lock_nested(dir, I_MUTEX_PARENT), inode_unlock(). */
void mars_helper_inode_lock(struct inode *inode);
void mars_helper_inode_lock_parent(struct inode *dir);
void mars_helper_inode_unlock(struct inode *inode);

/* i_size_read(file_inode(file)): the size of an open file. */
loff_t mars_helper_file_size(struct file *file);

/*
 * vfs_statfs() on the filesystem holding @file, reduced to the two fields MARS uses (struct
 * kstatfs is opaque in the kernel crate's bindings): total blocks and block size.
 */
int mars_helper_statfs(struct file *file, u64 *blocks, u64 *block_size);

/*
 * A second open file of @file's path for direct IO (O_RDWR | O_DIRECT | O_LARGEFILE), with
 * FMODE_NOCMTIME: its writes leave mtime and ctime alone, so an fsync after an overwrite
 * inside the file has no metadata to commit (the log writer's preallocated logfiles).
 * Returns the file or an ERR_PTR (EINVAL where the filesystem has no direct IO).
 */
struct file *mars_helper_file_reopen_direct(struct file *file);

/* Most repetitions mars_helper_file_write_repeated() takes. */
#define MARS_WRITE_REPEAT_MAX 32

/*
 * Writes @count (at most MARS_WRITE_REPEAT_MAX) copies of @buf[0..@len) back to back at @pos
 * with one vfs_iter_write(): one direct IO write of count * len bytes (its bios in flight
 * together). Returns the bytes written or a negative errno.
 */
ssize_t mars_helper_file_write_repeated(struct file *file, const void *buf, size_t len, unsigned int count, loff_t pos);

/* vfs_truncate() of @file's path to @len bytes. */
long mars_helper_file_truncate(struct file *file, loff_t len);

/* mnt_idmap(): the idmapping of a mount. */
struct mnt_idmap *mars_helper_mnt_idmap(const struct vfsmount *mnt);

/*
 * dentry_open(@path, O_RDONLY | O_DIRECTORY, current_cred()): opens a directory already
 * resolved (by a scoped lookup), so that no second path walk happens. current_cred() is a
 * macro. Returns the file or an ERR_PTR.
 */
struct file *mars_helper_open_dir(const struct path *path);

/* do_delayed_call(): releases what vfs_get_link() handed out. */
void mars_helper_do_delayed_call(struct delayed_call *call);

/*
 * Copies init_utsname()->nodename into buf (NUL-terminated, truncated to len). uts_sem is not
 * exported, so a concurrent sethostname() may be seen half-done: callers validate the name.
 */
void mars_helper_nodename(char *buf, size_t len);

/*
 * rq_for_each_segment(): calls @fn for every single-page data segment of @rq, in order, and
 * stops at the first non-zero return, which it returns (0 when all were visited).
 */
int mars_helper_rq_for_each_segment(struct request *rq,
				    int (*fn)(void *ctx, struct page *page, unsigned int offset,
					      unsigned int len),
				    void *ctx);
/* blk_rq_pos(), blk_rq_bytes(): start sector and length of a request. */
sector_t mars_helper_blk_rq_pos(struct request *rq);
unsigned int mars_helper_blk_rq_bytes(struct request *rq);
/* bdev_nr_bytes(), bdev_logical_block_size(). */
loff_t mars_helper_bdev_nr_bytes(struct block_device *bdev);
unsigned int mars_helper_bdev_logical_block_size(struct block_device *bdev);

/*
 * Kernel TCP sockets over IPv4 (kapi::socket). Addresses and ports are in host byte order;
 * every function returns 0 or a negative errno unless said otherwise.
 *
 * sock_create_kern() in the initial network namespace (init_net is not in the kernel crate's
 * bindings), with the options MARS wants on every socket: SO_REUSEADDR, and for connections
 * TCP_NODELAY and keepalive (idle, interval, count in seconds). The timeouts (ms, 0 = none)
 * bound every blocking receive or accept (rcv) and send or connect (snd).
 */
int mars_helper_sock_create_tcp(struct socket **res);
void mars_helper_sock_set_timeouts(struct socket *sock, unsigned int rcv_ms, unsigned int snd_ms);
void mars_helper_sock_set_reuseaddr(struct socket *sock);
void mars_helper_sock_tune_stream(struct socket *sock, int keepidle, int keepintvl, int keepcnt);
/* ip_sock_set_tos(): the IPv4 type of service of the socket's packets. */
void mars_helper_sock_set_tos(struct socket *sock, int tos);
int mars_helper_sock_bind_ipv4(struct socket *sock, u32 addr, u16 port);
int mars_helper_sock_listen(struct socket *sock, int backlog);
/* kernel_accept(); the new socket is *newsock (blocking, bounded by the rcv timeout). */
int mars_helper_sock_accept(struct socket *sock, struct socket **newsock);
int mars_helper_sock_connect_ipv4(struct socket *sock, u32 addr, u16 port);
/* The peer's address of a connected socket. */
int mars_helper_sock_peer_ipv4(struct socket *sock, u32 *addr, u16 *port);
/* One kernel_sendmsg() of up to len bytes (MSG_NOSIGNAL): bytes sent or a negative errno. */
int mars_helper_sock_send(struct socket *sock, const void *buf, size_t len);
/* One kernel_recvmsg() of up to len bytes: bytes received, 0 at end of stream, or -errno. */
int mars_helper_sock_recv(struct socket *sock, void *buf, size_t len);
/* kernel_sock_shutdown(SHUT_RDWR): wakes every task blocked on the socket. */
void mars_helper_sock_shutdown(struct socket *sock);
void mars_helper_sock_release(struct socket *sock);

/*
 * Macro constants kernel::bindings lacks; bindgen turns these into Rust constants (the
 * kernel's own RUST_CONST_HELPER_ technique). Never compiled as C.
 */
#ifdef __BINDGEN__
const gfp_t MARS_GFP_NOIO = GFP_NOIO;
const blk_opf_t MARS_REQ_OP_MASK = REQ_OP_MASK;
const blk_opf_t MARS_REQ_FUA = REQ_FUA;
const blk_opf_t MARS_REQ_PREFLUSH = REQ_PREFLUSH;
const blk_opf_t MARS_REQ_SYNC = REQ_SYNC;
const blk_mode_t MARS_BLK_OPEN_READ = BLK_OPEN_READ;
const blk_mode_t MARS_BLK_OPEN_WRITE = BLK_OPEN_WRITE;
const blk_features_t MARS_BLK_FEAT_WRITE_CACHE = BLK_FEAT_WRITE_CACHE;
const blk_features_t MARS_BLK_FEAT_FUA = BLK_FEAT_FUA;
const blk_features_t MARS_BLK_FEAT_IO_STAT = BLK_FEAT_IO_STAT;
const size_t MARS_LZO1X_1_MEM_COMPRESS = LZO1X_1_MEM_COMPRESS;
const int MARS_LZO_E_OK = LZO_E_OK;
#endif

/*
 * vfs_statfs() on the filesystem holding @file: its size and the bytes available to ordinary
 * users (f_bavail, without the root reserve), for the emergency levels.
 */
int mars_helper_statfs_space(struct file *file, u64 *total, u64 *avail);

/* vfs_statfs() on the filesystem holding @file: its inodes in total and free. */
int mars_helper_statfs_inodes(struct file *file, u64 *total, u64 *free);

#endif /* MARS_HELPERS_H */
