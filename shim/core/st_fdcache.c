/*
 * Endpoints of sockets, learned at connect/accept or from the kernel once, so
 * getsockname/getpeername can record the other end without a second system
 * call.  A connected socket's endpoints never change, nor does the settled
 * local address of an unconnected one (bound port or unix name) until connect,
 * which forgets it; what changes is which socket an fd number names, so every
 * path that closes, replaces, binds or listens on an fd forgets its entry.
 * Entries are seqlocks: a reader that races a writer or a forget gets a miss
 * (and asks the kernel), never a mixed or stale entry.
 *
 * The table's pages (st_fdpages.c) hold 128 entries, 30 KiB: a program using
 * 50 fds costs one, not the 15 MiB a table of every possible fd would.
 */
#define _GNU_SOURCE
#include <string.h>
#include <sys/mman.h>

#include "st_core.h"


struct st_fdentry {
	uint32_t seq; /* odd while written; bumped by 2 on forget */
	uint32_t tag; /* seq value the data was written for */
	uint16_t local_len, peer_len;
	uint8_t local[ST_ADDR_MAX];
	uint8_t peer[ST_ADDR_MAX];
};
const size_t st_fdcache_page_bytes = ST_FDCACHE_PAGE * sizeof(struct st_fdentry);


/* Both sides hold ST_ADDR_MAX bytes: a fixed 32-byte copy covers inet and inet6
 * inline, where a variable memcpy would be a call into libc. */
static void st_copy_addr(void *dst, const void *src, size_t len)
{
	if (len <= 32)
		__builtin_memcpy(dst, src, 32);
	else
		memcpy(dst, src, len);
}


static struct st_fdentry *st_entry(int fd, bool make)
{
	return st_fdpages_entry(st_tab->cache_pages, ST_FDCACHE_PAGE, sizeof(struct st_fdentry), fd, make);
}

static bool st_fits(const struct st_addr *a)
{
	return a->len > 0 && a->len <= ST_ADDR_MAX;
}

/* Raised before an entry is written, so a concurrent forget always sees it. */
static void st_raise_high(int fd)
{
	uint32_t high = __atomic_load_n(&st_tab->cache_high, __ATOMIC_RELAXED);
	while (high < (uint32_t)fd + 1 &&
	       !__atomic_compare_exchange_n(&st_tab->cache_high, &high, (uint32_t)fd + 1, true,
					    __ATOMIC_SEQ_CST, __ATOMIC_RELAXED))
		;
}

void st_fdcache_store(int fd, const struct st_addr *local, const struct st_addr *peer)
{
	if (!st_fits(local) || peer->len > ST_ADDR_MAX)
		return;
	struct st_fdentry *e = st_entry(fd, true);
	if (e == NULL)
		return;
	st_raise_high(fd);
	uint32_t seq = __atomic_load_n(&e->seq, __ATOMIC_ACQUIRE);
	if ((seq & 1) || !__atomic_compare_exchange_n(&e->seq, &seq, seq + 1, false,
						     __ATOMIC_ACQUIRE, __ATOMIC_RELAXED))
		return;
	e->tag = seq + 2;
	e->local_len = (uint16_t)local->len;
	e->peer_len = (uint16_t)peer->len;
	st_copy_addr(e->local, &local->ss, local->len);
	st_copy_addr(e->peer, &peer->ss, peer->len);
	/* A forget that ran meanwhile added 2: the tag no longer matches. */
	__atomic_fetch_add(&e->seq, 1, __ATOMIC_RELEASE);
}

bool st_fdcache_load(int fd, struct st_addr *local, struct st_addr *peer)
{
	struct st_fdentry *e = st_entry(fd, false);
	if (e == NULL)
		return false;
	uint32_t seq = __atomic_load_n(&e->seq, __ATOMIC_ACQUIRE);
	if ((seq & 1) || e->tag != seq || e->local_len == 0)
		return false;
	local->len = e->local_len;
	peer->len = e->peer_len;
	if (local->len > ST_ADDR_MAX || peer->len > ST_ADDR_MAX)
		return false;
	st_copy_addr(&local->ss, e->local, local->len);
	st_copy_addr(&peer->ss, e->peer, peer->len);
	__atomic_thread_fence(__ATOMIC_ACQUIRE);
	return __atomic_load_n(&e->seq, __ATOMIC_RELAXED) == seq;
}

void st_fdcache_forget(int fd)
{
	struct st_fdentry *e = st_entry(fd, false);
	if (e != NULL && (unsigned)fd < __atomic_load_n(&st_tab->cache_high, __ATOMIC_RELAXED))
		__atomic_fetch_add(&e->seq, 2, __ATOMIC_RELEASE);
}

void st_fdcache_forget_range(unsigned first, unsigned last)
{
	unsigned high = __atomic_load_n(&st_tab->cache_high, __ATOMIC_RELAXED);
	if (last >= high)
		last = high ? high - 1 : 0;
	for (unsigned fd = first; fd <= last && fd < high; fd++)
		st_fdcache_forget((int)fd);
}
