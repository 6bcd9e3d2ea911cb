/*
 * The connections that --port, --addr and --op selected through their
 * events: their results and closes have no endpoints or call of their own,
 * and follow them here, keyed by (file, pid, fd) until their close.  An open
 * addressing table that grows; a close leaves a tombstone.
 */
#define _GNU_SOURCE
#include <stdlib.h>
#include <string.h>

#include "st_dump.h"
#include "st_xalloc.h"

struct st_keep_key {
	uint32_t file, pid;
	int32_t fd;
	uint8_t used; /* 0 free, 1 held, 2 tombstone */
};

struct st_keep {
	struct st_keep_key *slots;
	size_t cap, used; /* used counts tombstones too */
};

static size_t st_keep_hash(uint32_t file, uint32_t pid, int32_t fd)
{
	uint64_t h = ((uint64_t)file << 40) ^ ((uint64_t)pid << 20) ^ (uint32_t)fd;
	h *= 0x9e3779b97f4a7c15ull;
	return (size_t)(h >> 17);
}

static struct st_keep_key *st_keep_find(struct st_keep *k, uint32_t file, uint32_t pid, int32_t fd)
{
	if (k == NULL || k->cap == 0)
		return NULL;
	for (size_t i = st_keep_hash(file, pid, fd) & (k->cap - 1), n = 0; n < k->cap;
	     i = (i + 1) & (k->cap - 1), n++) {
		struct st_keep_key *s = &k->slots[i];
		if (s->used == 0)
			return NULL;
		if (s->used == 1 && s->file == file && s->pid == pid && s->fd == fd)
			return s;
	}
	return NULL;
}

static void st_keep_grow(struct st_keep *k)
{
	struct st_keep old = *k;
	k->cap = old.cap ? old.cap * 2 : 64;
	k->slots = st_xcalloc(k->cap, sizeof *k->slots);
	k->used = 0;
	for (size_t i = 0; i < old.cap; i++)
		if (old.slots[i].used == 1)
			st_keep_add(k, old.slots[i].file, old.slots[i].pid, old.slots[i].fd);
	free(old.slots);
}

void st_keep_add(struct st_keep *k, uint32_t file, uint32_t pid, int32_t fd)
{
	if (st_keep_find(k, file, pid, fd))
		return;
	if ((k->used + 1) * 2 > k->cap)
		st_keep_grow(k);
	size_t i = st_keep_hash(file, pid, fd) & (k->cap - 1);
	while (k->slots[i].used == 1)
		i = (i + 1) & (k->cap - 1);
	if (k->slots[i].used == 0)
		k->used++;
	k->slots[i] = (struct st_keep_key){file, pid, fd, 1};
}

bool st_keep_has(struct st_keep *k, uint32_t file, uint32_t pid, int32_t fd, bool ends)
{
	struct st_keep_key *s = st_keep_find(k, file, pid, fd);
	if (s && ends)
		s->used = 2;
	return s != NULL;
}

struct st_keep *st_keep_new(void)
{
	return st_xcalloc(1, sizeof(struct st_keep));
}

void st_keep_free(struct st_keep *k)
{
	if (k)
		free(k->slots);
	free(k);
}
