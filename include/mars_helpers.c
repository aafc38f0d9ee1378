// SPDX-License-Identifier: GPL-2.0
/* C helpers of mars.ko: see mars_helpers.h. */
#include <linux/cred.h>
#include <linux/uio.h>
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

size_t mars_helper_zlib_inflate_workspacesize(void)
{
	return zlib_inflate_workspacesize();
}

size_t mars_helper_zlib_deflate_workspacesize(void)
{
	return zlib_deflate_workspacesize(MAX_WBITS, DEF_MEM_LEVEL);
}

long mars_helper_zlib_inflate(void *workspace, const void *src, size_t src_len, void *dst, size_t dst_len)
{
	struct z_stream_s stream = { .workspace = workspace };
	int status;

	if (src_len > UINT_MAX || dst_len > UINT_MAX)
		return -EINVAL;
	if (zlib_inflateInit(&stream) != Z_OK)
		return -EINVAL;
	stream.next_in = src;
	stream.avail_in = src_len;
	stream.next_out = dst;
	stream.avail_out = dst_len;
	status = zlib_inflate(&stream, Z_FINISH);
	zlib_inflateEnd(&stream);
	if (status == Z_STREAM_END)
		return stream.total_out;
	/* Z_BUF_ERROR with no room left: the data go on beyond dst_len. */
	if (status == Z_BUF_ERROR && stream.avail_out == 0)
		return -ENOSPC;
	return -EINVAL;
}

long mars_helper_zlib_deflate(void *workspace, int level, const void *src, size_t src_len, void *dst, size_t dst_len)
{
	struct z_stream_s stream = { .workspace = workspace };
	int status;

	if (src_len > UINT_MAX || dst_len > UINT_MAX)
		return -EINVAL;
	if (zlib_deflateInit(&stream, level) != Z_OK)
		return -EINVAL;
	stream.next_in = src;
	stream.avail_in = src_len;
	stream.next_out = dst;
	stream.avail_out = dst_len;
	status = zlib_deflate(&stream, Z_FINISH);
	zlib_deflateEnd(&stream);
	if (status == Z_STREAM_END)
		return stream.total_out;
	return -ENOSPC;
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

struct file *mars_helper_file_reopen_direct(struct file *file)
{
	struct file *direct = dentry_open(&file->f_path, O_RDWR | O_LARGEFILE | O_DIRECT, current_cred());

	if (!IS_ERR(direct))
		direct->f_mode |= FMODE_NOCMTIME;
	return direct;
}

ssize_t mars_helper_file_write_repeated(struct file *file, const void *buf, size_t len, unsigned int count, loff_t pos)
{
	struct kvec vec[MARS_WRITE_REPEAT_MAX];
	struct iov_iter iter;
	unsigned int i;

	if (count == 0 || count > MARS_WRITE_REPEAT_MAX)
		return -EINVAL;
	for (i = 0; i < count; i++) {
		vec[i].iov_base = (void *)buf;
		vec[i].iov_len = len;
	}
	iov_iter_kvec(&iter, ITER_SOURCE, vec, count, len * count);
	return vfs_iter_write(file, &iter, &pos, 0);
}

long mars_helper_file_truncate(struct file *file, loff_t len)
{
	return vfs_truncate(&file->f_path, len);
}

struct mnt_idmap *mars_helper_mnt_idmap(const struct vfsmount *mnt)
{
	return mnt_idmap(mnt);
}

struct file *mars_helper_open_dir(const struct path *path)
{
	return dentry_open(path, O_RDONLY | O_DIRECTORY, current_cred());
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

/* Kernel TCP sockets (see mars_helpers.h). */

#include <linux/in.h>
#include <linux/tcp.h>
#include <net/sock.h>
#include <net/ip.h>
#include <net/net_namespace.h>

int mars_helper_sock_create_tcp(struct socket **res)
{
	return sock_create_kern(&init_net, AF_INET, SOCK_STREAM, IPPROTO_TCP, res);
}

void mars_helper_sock_set_timeouts(struct socket *sock, unsigned int rcv_ms, unsigned int snd_ms)
{
	struct sock *sk = sock->sk;

	lock_sock(sk);
	sk->sk_rcvtimeo = rcv_ms ? msecs_to_jiffies(rcv_ms) : MAX_SCHEDULE_TIMEOUT;
	sk->sk_sndtimeo = snd_ms ? msecs_to_jiffies(snd_ms) : MAX_SCHEDULE_TIMEOUT;
	release_sock(sk);
}

void mars_helper_sock_set_reuseaddr(struct socket *sock)
{
	sock_set_reuseaddr(sock->sk);
}

void mars_helper_sock_tune_stream(struct socket *sock, int keepidle, int keepintvl, int keepcnt)
{
	tcp_sock_set_nodelay(sock->sk);
	sock_set_keepalive(sock->sk);
	tcp_sock_set_keepidle(sock->sk, keepidle);
	tcp_sock_set_keepintvl(sock->sk, keepintvl);
	tcp_sock_set_keepcnt(sock->sk, keepcnt);
}

void mars_helper_sock_set_tos(struct socket *sock, int tos)
{
	ip_sock_set_tos(sock->sk, tos);
}

static void mars_sockaddr_ipv4(struct sockaddr_in *sin, u32 addr, u16 port)
{
	memset(sin, 0, sizeof(*sin));
	sin->sin_family = AF_INET;
	sin->sin_addr.s_addr = htonl(addr);
	sin->sin_port = htons(port);
}

int mars_helper_sock_bind_ipv4(struct socket *sock, u32 addr, u16 port)
{
	struct sockaddr_in sin;

	mars_sockaddr_ipv4(&sin, addr, port);
	return kernel_bind(sock, (struct sockaddr *)&sin, sizeof(sin));
}

int mars_helper_sock_listen(struct socket *sock, int backlog)
{
	return kernel_listen(sock, backlog);
}

int mars_helper_sock_accept(struct socket *sock, struct socket **newsock)
{
	return kernel_accept(sock, newsock, 0);
}

int mars_helper_sock_connect_ipv4(struct socket *sock, u32 addr, u16 port)
{
	struct sockaddr_in sin;

	mars_sockaddr_ipv4(&sin, addr, port);
	return kernel_connect(sock, (struct sockaddr *)&sin, sizeof(sin), 0);
}

int mars_helper_sock_peer_ipv4(struct socket *sock, u32 *addr, u16 *port)
{
	struct sockaddr_in sin;
	int len;

	memset(&sin, 0, sizeof(sin));
	len = kernel_getpeername(sock, (struct sockaddr *)&sin);
	if (len < 0)
		return len;
	if (sin.sin_family != AF_INET)
		return -EAFNOSUPPORT;
	*addr = ntohl(sin.sin_addr.s_addr);
	*port = ntohs(sin.sin_port);
	return 0;
}

int mars_helper_sock_send(struct socket *sock, const void *buf, size_t len)
{
	struct msghdr msg = { .msg_flags = MSG_NOSIGNAL };
	struct kvec vec = { .iov_base = (void *)buf, .iov_len = len };

	return kernel_sendmsg(sock, &msg, &vec, 1, len);
}

int mars_helper_sock_recv(struct socket *sock, void *buf, size_t len)
{
	struct msghdr msg = { .msg_flags = 0 };
	struct kvec vec = { .iov_base = buf, .iov_len = len };

	return kernel_recvmsg(sock, &msg, &vec, 1, len, 0);
}

void mars_helper_sock_shutdown(struct socket *sock)
{
	kernel_sock_shutdown(sock, SHUT_RDWR);
}

void mars_helper_sock_release(struct socket *sock)
{
	sock_release(sock);
}

int mars_helper_statfs_space(struct file *file, u64 *total, u64 *avail)
{
	struct kstatfs st = {};
	int err = vfs_statfs(&file->f_path, &st);

	*total = st.f_blocks * st.f_bsize;
	*avail = st.f_bavail * st.f_bsize;
	return err;
}

int mars_helper_statfs_inodes(struct file *file, u64 *total, u64 *free)
{
	struct kstatfs st = {};
	int err = vfs_statfs(&file->f_path, &st);

	*total = st.f_files;
	*free = st.f_ffree;
	return err;
}
