// SPDX-License-Identifier: GPL-2.0
/*
 * ackcheck: does a block device keep every write it acknowledged as durable, across power
 * failures? Built statically into the guest initramfs (scripts/build-initramfs.sh) for the
 * io-crash scenario.
 *
 *   ackcheck run DEV JOURNAL BLOCKS THREADS SEED
 *       Writes until killed. Each thread owns a contiguous part of the first BLOCKS 4 KiB
 *       blocks of DEV and repeatedly writes 1..16 blocks at a random place in it, one write
 *       at a time, each block carrying (block number, sequence number) and data derived from
 *       both. Before a write it appends an INTENT record to JOURNAL, after the write is
 *       acknowledged as durable an ACK record (see below: a record exists after a crash if
 *       its write returned). "Durable" is what POSIX promises, three ways by thread index
 *       modulo 3: 0 pwrite(2) with O_DIRECT|O_DSYNC (a FUA write, then a flush:
 *       block/fops.c's generic_write_sync), 1 O_DIRECT and then fdatasync(2) (a flush), 2
 *       Linux AIO (io_submit) with O_DIRECT|O_DSYNC: a FUA write and nothing after it (the
 *       kernel syncs only synchronous writes), so only the device's FUA handling keeps it.
 *   ackcheck verify DEV JOURNAL BLOCKS [resolve]
 *       Reads the first BLOCKS blocks of DEV and checks each against the journal: a block last
 *       covered by an acknowledged write must hold exactly that write's data; a block covered
 *       by a newer write that was in flight at the crash (INTENT without ACK) may hold either
 *       of the two; a block never written must be zero. With "resolve", appends what it found
 *       for the in-flight writes (FOUND per block that holds the newer data, then CLOSED per
 *       write) so that the next crash cannot silently move a block back. Exit 0 iff every
 *       block is as allowed; prints every bad block (at most 20) and a summary line.
 *
 * JOURNAL must start zeroed (a fresh disk, or an empty file).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <linux/aio_abi.h>
#include <sys/syscall.h>

#define BLOCK 4096
#define MAX_RUN 16
#define MAGIC_BLOCK 0x4d415253424c4b31ULL /* "MARSBLK1" */
#define MAGIC_RECORD 0x4d41524a

enum kind { INTENT = 1, ACK = 2, FOUND = 3, CLOSED = 4 };

struct record {
	uint32_t magic;
	uint32_t kind;
	uint64_t seq;
	uint32_t first;
	uint32_t count;
	uint32_t thread;
	uint32_t check;
};

static uint32_t record_check(const struct record *r)
{
	const unsigned char *p = (const unsigned char *)r;
	uint32_t h = 2166136261u;
	for (size_t i = 0; i < offsetof(struct record, check); i++)
		h = (h ^ p[i]) * 16777619u;
	return h;
}

static uint64_t mix(uint64_t x)
{
	x ^= x >> 33;
	x *= 0xff51afd7ed558ccdULL;
	x ^= x >> 33;
	x *= 0xc4ceb9fe1a85ec53ULL;
	x ^= x >> 33;
	return x;
}

/* The contents of block b written by the write with sequence number seq. */
static void fill(uint64_t *buf, uint64_t b, uint64_t seq)
{
	uint64_t x = mix(b * 0x9e3779b97f4a7c15ULL ^ seq);
	buf[0] = MAGIC_BLOCK;
	buf[1] = b;
	buf[2] = seq;
	for (size_t i = 3; i < BLOCK / 8; i++) {
		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		buf[i] = x;
	}
}

static void die(const char *what)
{
	perror(what);
	exit(2);
}

/*
 * The journal is an array of 32-byte records from offset 0 of JOURNAL (a block device of its
 * own, or a file), ended by the first record that does not check out (zeros on a fresh
 * device). Appending rewrites the journal's last 4 KiB block with O_DIRECT|O_DSYNC, so no
 * filesystem and no page cache stands between an ACK record and the disk, and nothing the
 * device under test does can make the journal durable by accident.
 */
#define PER_BLOCK (BLOCK / sizeof(struct record))
static int journal_fd;
static struct record *journal_tail; /* the journal's last block, BLOCK-aligned */
static uint64_t journal_len;        /* records */
static pthread_mutex_t journal_lock = PTHREAD_MUTEX_INITIALIZER;

static void append(enum kind kind, uint64_t seq, uint32_t first, uint32_t count, uint32_t thread)
{
	struct record r = { MAGIC_RECORD, kind, seq, first, count, thread, 0 };
	r.check = record_check(&r);
	pthread_mutex_lock(&journal_lock);
	uint64_t at = journal_len / PER_BLOCK;
	journal_tail[journal_len % PER_BLOCK] = r;
	if (pwrite(journal_fd, journal_tail, BLOCK, (off_t)(at * BLOCK)) != BLOCK)
		die("journal write");
	journal_len++;
	if (journal_len % PER_BLOCK == 0)
		memset(journal_tail, 0, BLOCK);
	pthread_mutex_unlock(&journal_lock);
}

/* Reads the journal; returns the number of valid records (the array is malloc'ed) and
 * readies appending after them. */
static size_t load_journal(const char *path, struct record **out)
{
	journal_fd = open(path, O_RDWR | O_DIRECT | O_DSYNC);
	if (journal_fd < 0)
		die(path);
	size_t cap = 1 << 16, n = 0, chunk = 1 << 20;
	struct record *r = malloc(cap * sizeof(*r));
	void *buf;
	if (!r || posix_memalign(&buf, BLOCK, chunk) || posix_memalign((void **)&journal_tail, BLOCK, BLOCK))
		die("malloc");
	for (off_t off = 0;; off += chunk) {
		ssize_t got = pread(journal_fd, buf, chunk, off);
		if (got < 0)
			die("journal read");
		size_t k = 0, valid = (size_t)got / sizeof(*r);
		const struct record *in = buf;
		for (; k < valid; k++) {
			if (in[k].magic != MAGIC_RECORD || in[k].check != record_check(&in[k]))
				break;
			if (n == cap) {
				cap *= 2;
				r = realloc(r, cap * sizeof(*r));
				if (!r)
					die("realloc");
			}
			r[n++] = in[k];
		}
		if (k < valid || got < (ssize_t)chunk)
			break;
	}
	memset(journal_tail, 0, BLOCK);
	memcpy(journal_tail, r + n / PER_BLOCK * PER_BLOCK, n % PER_BLOCK * sizeof(*r));
	journal_len = n;
	free(buf);
	*out = r;
	return n;
}

static uint64_t blocks, next_seq;
static const char *dev_path;
static pthread_mutex_t seq_lock = PTHREAD_MUTEX_INITIALIZER;

struct worker {
	pthread_t id;
	uint32_t index, first, count;
	uint64_t rng;
};

/* One O_DIRECT|O_DSYNC write through Linux AIO, waited for: a FUA write with no flush. */
static void aio_write_wait(aio_context_t ctx, int fd, const void *buf, size_t len, off_t at)
{
	struct iocb cb = { 0 };
	struct iocb *cbs[1] = { &cb };
	struct io_event ev;
	cb.aio_lio_opcode = IOCB_CMD_PWRITE;
	cb.aio_fildes = (uint32_t)fd;
	cb.aio_buf = (uint64_t)(uintptr_t)buf;
	cb.aio_nbytes = len;
	cb.aio_offset = at;
	if (syscall(SYS_io_submit, ctx, 1L, cbs) != 1)
		die("io_submit");
	long got;
	while ((got = syscall(SYS_io_getevents, ctx, 1L, 1L, &ev, NULL)) != 1)
		if (got >= 0 || errno != EINTR)
			die("io_getevents");
	if (ev.res != (int64_t)len) {
		errno = ev.res < 0 ? (int)-ev.res : EIO;
		die("device write (aio)");
	}
}

static void *run_thread(void *arg)
{
	struct worker *w = arg;
	int way = w->index % 3; /* 0 O_DSYNC, 1 fdatasync, 2 AIO with O_DSYNC */
	int fd = open(dev_path, O_WRONLY | O_DIRECT | (way != 1 ? O_DSYNC : 0));
	aio_context_t ctx = 0;
	void *buf;
	if (fd < 0)
		die(dev_path);
	if (way == 2 && syscall(SYS_io_setup, 1L, &ctx) < 0)
		die("io_setup");
	if (posix_memalign(&buf, BLOCK, BLOCK * MAX_RUN))
		die("posix_memalign");
	for (;;) {
		w->rng = mix(w->rng + 1);
		uint32_t len = 1 + w->rng % MAX_RUN;
		if (len > w->count)
			len = w->count;
		uint32_t at = w->first + (w->rng >> 20) % (w->count - len + 1);
		pthread_mutex_lock(&seq_lock);
		uint64_t seq = next_seq++;
		pthread_mutex_unlock(&seq_lock);
		for (uint32_t i = 0; i < len; i++)
			fill((uint64_t *)((char *)buf + i * BLOCK), at + i, seq);
		append(INTENT, seq, at, len, w->index);
		if (way == 2)
			aio_write_wait(ctx, fd, buf, (size_t)len * BLOCK, (off_t)at * BLOCK);
		else if (pwrite(fd, buf, (size_t)len * BLOCK, (off_t)at * BLOCK) != (ssize_t)len * BLOCK)
			die("device write");
		if (way == 1 && fdatasync(fd) < 0)
			die("device fdatasync");
		append(ACK, seq, at, len, w->index);
	}
	return NULL;
}

struct state {
	uint64_t acked;   /* sequence number of the newest write known on the block, 0: none */
	uint64_t pending; /* sequence number of an unresolved in-flight write, 0: none */
	uint32_t pending_record;
};

int main(int argc, char **argv)
{
	if (argc < 5) {
		fprintf(stderr, "usage: ackcheck run DEV JOURNAL BLOCKS THREADS SEED | verify DEV JOURNAL BLOCKS [resolve]\n");
		return 2;
	}
	dev_path = argv[2];
	blocks = strtoull(argv[4], NULL, 0);
	if (blocks == 0 || blocks > (1u << 30))
		die("BLOCKS");
	struct record *journal;
	size_t n = load_journal(argv[3], &journal);
	uint64_t max_seq = 0;
	for (size_t i = 0; i < n; i++)
		if (journal[i].seq > max_seq)
			max_seq = journal[i].seq;

	if (strcmp(argv[1], "run") == 0 && argc == 7) {
		uint32_t threads = strtoul(argv[5], NULL, 0);
		uint64_t seed = strtoull(argv[6], NULL, 0);
		if (threads == 0 || threads > 64 || blocks < threads)
			die("THREADS");
		next_seq = max_seq + 1;
		struct worker *w = calloc(threads, sizeof(*w));
		if (!w)
			die("calloc");
		for (uint32_t t = 0; t < threads; t++) {
			w[t].index = t;
			w[t].first = blocks * t / threads;
			w[t].count = blocks * (t + 1) / threads - w[t].first;
			w[t].rng = mix(seed * 64 + t);
			if (pthread_create(&w[t].id, NULL, run_thread, &w[t]))
				die("pthread_create");
		}
		for (uint32_t t = 0; t < threads; t++)
			pthread_join(w[t].id, NULL);
		return 0;
	}
	if (strcmp(argv[1], "verify") != 0)
		die("mode");
	int resolve = argc > 5 && strcmp(argv[5], "resolve") == 0;

	/* Replay the journal into the allowed state of every block. */
	struct state *st = calloc(blocks, sizeof(*st));
	if (!st)
		die("calloc");
	size_t acks = 0, in_flight = 0;
	for (size_t i = 0; i < n; i++) {
		struct record *r = &journal[i];
		if ((uint64_t)r->first + r->count > blocks) {
			fprintf(stderr, "journal: record %zu is outside %llu blocks\n", i, (unsigned long long)blocks);
			return 2;
		}
		for (uint32_t b = r->first; b < r->first + r->count; b++) {
			struct state *s = &st[b];
			switch (r->kind) {
			case INTENT:
				s->pending = r->seq;
				s->pending_record = i;
				break;
			case ACK:
			case FOUND:
				if (r->seq > s->acked)
					s->acked = r->seq;
				if (s->pending == r->seq)
					s->pending = 0;
				break;
			case CLOSED:
				if (s->pending == r->seq)
					s->pending = 0;
				break;
			}
		}
		acks += r->kind == ACK;
	}

	int fd = open(dev_path, O_RDONLY | O_DIRECT);
	void *buf, *want;
	if (fd < 0)
		die(dev_path);
	if (posix_memalign(&buf, BLOCK, BLOCK * 256) || posix_memalign(&want, BLOCK, BLOCK))
		die("posix_memalign");
	size_t bad = 0, written = 0, newer = 0;
	for (uint64_t base = 0; base < blocks; base += 256) {
		uint64_t chunk = blocks - base < 256 ? blocks - base : 256;
		if (pread(fd, buf, chunk * BLOCK, base * BLOCK) != (ssize_t)(chunk * BLOCK))
			die("device read");
		for (uint64_t k = 0; k < chunk; k++) {
			uint64_t b = base + k;
			struct state *s = &st[b];
			const char *got = (const char *)buf + k * BLOCK;
			int ok = 0;
			if (s->acked) {
				fill(want, b, s->acked);
				ok = memcmp(got, want, BLOCK) == 0;
				written++;
			} else {
				memset(want, 0, BLOCK);
				ok = memcmp(got, want, BLOCK) == 0;
			}
			if (!ok && s->pending) {
				fill(want, b, s->pending);
				if (memcmp(got, want, BLOCK) == 0) {
					ok = 1;
					newer++;
					if (resolve)
						append(FOUND, s->pending, b, 1, journal[s->pending_record].thread);
				}
			}
			if (!ok && ++bad <= 20) {
				const uint64_t *h = (const uint64_t *)got;
				fprintf(stderr, "block %llu: want seq %llu%s%llu, holds %s seq %llu\n",
					(unsigned long long)b, (unsigned long long)s->acked,
					s->pending ? " or in-flight seq " : "", s->pending ? (unsigned long long)s->pending : 0ULL,
					h[0] == MAGIC_BLOCK ? (h[1] == b ? "intact? block" : "another block's") : "garbage:",
					(unsigned long long)h[2]);
			}
		}
	}
	if (resolve) {
		for (size_t i = 0; i < n; i++) {
			if (journal[i].kind != INTENT)
				continue;
			int open_write = 0;
			for (uint32_t b = journal[i].first; b < journal[i].first + journal[i].count; b++)
				open_write |= st[b].pending == journal[i].seq;
			if (open_write) {
				append(CLOSED, journal[i].seq, journal[i].first, journal[i].count, journal[i].thread);
				in_flight++;
			}
		}
	}
	printf("%zu acknowledged writes in the journal, %zu blocks written, %zu holding an in-flight write, %zu in-flight writes resolved, %zu bad blocks\n",
	       acks, written, newer, in_flight, bad);
	return bad ? 1 : 0;
}
