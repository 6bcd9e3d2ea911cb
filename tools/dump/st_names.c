/*
 * The names a traced process resolved, by process and address: a connection
 * is named by the newest resolution of its own process that returned the
 * address it dialled.  Newer resolutions replace older ones, so memory is
 * the distinct (process, address) pairs.
 */
#define _GNU_SOURCE
#include <stdlib.h>
#include <string.h>

#include "st_xalloc.h"
#include "st_dump.h"

struct st_named_addr {
	uint32_t pid;
	uint16_t family;
	uint8_t addr[16];
	char *name;
	struct st_named_addr *next;
};

struct st_names {
	struct st_named_addr **bucket;
	size_t nbuckets, n;
};

static size_t st_names_slot(const struct st_names *t, uint32_t pid, uint16_t family,
			    const uint8_t *addr)
{
	uint64_t h = 1469598103934665603ull ^ pid ^ (uint64_t)family << 32;
	for (int i = 0; i < 16; i++)
		h = (h ^ addr[i]) * 1099511628211ull;
	return (size_t)h & (t->nbuckets - 1);
}

static void st_names_grow(struct st_names *t)
{
	struct st_named_addr **old = t->bucket;
	size_t old_n = t->nbuckets;
	t->nbuckets = old_n ? old_n * 2 : 256;
	t->bucket = st_xcalloc(t->nbuckets, sizeof *t->bucket);
	for (size_t i = 0; i < old_n; i++)
		for (struct st_named_addr *a = old[i], *next; a; a = next) {
			next = a->next;
			size_t b = st_names_slot(t, a->pid, a->family, a->addr);
			a->next = t->bucket[b];
			t->bucket[b] = a;
		}
	free(old);
}

void st_names_add(struct st_dump *d, const struct st_res *r)
{
	if (d->names == NULL)
		d->names = st_xcalloc(1, sizeof *d->names);
	struct st_names *t = d->names;
	for (uint16_t i = 0; i < r->naddrs; i++) {
		struct st_resolved a;
		memcpy(&a, &r->addrs[i], sizeof a);
		if (t->n * 2 >= t->nbuckets)
			st_names_grow(t);
		size_t b = st_names_slot(t, r->pid, a.family, a.addr);
		struct st_named_addr *e = t->bucket[b];
		while (e && !(e->pid == r->pid && e->family == a.family &&
			      memcmp(e->addr, a.addr, 16) == 0))
			e = e->next;
		if (e == NULL) {
			e = st_xcalloc(1, sizeof *e);
			*e = (struct st_named_addr){.pid = r->pid, .family = a.family,
						    .next = t->bucket[b]};
			memcpy(e->addr, a.addr, 16);
			t->bucket[b] = e;
			t->n++;
		}
		free(e->name);
		e->name = strndup(r->name, r->name_len);
	}
}

const char *st_names_find(const struct st_dump *d, uint32_t pid, const struct st_endpoint *ep)
{
	const struct st_names *t = d->names;
	if (t == NULL || st_ep_sa(ep) == NULL || ep->len < 8)
		return NULL;
	uint16_t family;
	uint8_t addr[16] = {0};
	memcpy(&family, st_ep_sa(ep), 2);
	if (family == AF_INET)
		memcpy(addr, st_ep_sa(ep) + 4, 4);
	else if (family == AF_INET6 && ep->len >= 24)
		memcpy(addr, st_ep_sa(ep) + 8, 16);
	else
		return NULL;
	for (const struct st_named_addr *e = t->bucket[st_names_slot(t, pid, family, addr)]; e;
	     e = e->next)
		if (e->pid == pid && e->family == family && memcmp(e->addr, addr, 16) == 0)
			return e->name;
	return NULL;
}

void st_names_free(struct st_dump *d)
{
	struct st_names *t = d->names;
	if (t == NULL)
		return;
	for (size_t i = 0; i < t->nbuckets; i++)
		for (struct st_named_addr *e = t->bucket[i], *next; e; e = next) {
			next = e->next;
			free(e->name);
			free(e);
		}
	free(t->bucket);
	free(t);
	d->names = NULL;
}
