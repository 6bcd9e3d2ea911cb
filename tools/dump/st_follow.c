/*
 * --follow: print events as they are written to a live trace, like tail -f.
 * Records are never rewritten once committed, so the file is simply read
 * again every poll and each record is printed once, by its offset.
 */
#define _GNU_SOURCE
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "st_dump.h"

#define ST_FOLLOW_POLL_MS 200

static volatile sig_atomic_t st_stop;

static void st_on_stop(int sig)
{
	(void)sig;
	st_stop = 1;
}

struct st_seen {
	uint8_t *bits; /* one bit per 8-byte slot of the file */
	size_t nbits;
};

static bool st_seen_test_set(struct st_seen *s, uint64_t offset)
{
	size_t slot = (size_t)(offset / 8);
	if (slot >= s->nbits) {
		size_t n = (slot + 1) * 2;
		uint8_t *b = realloc(s->bits, (n + 7) / 8);
		if (b == NULL)
			return true;
		memset(b + (s->nbits + 7) / 8, 0, (n + 7) / 8 - (s->nbits + 7) / 8);
		s->bits = b;
		s->nbits = n;
	}
	bool was = s->bits[slot / 8] & (1u << (slot % 8));
	s->bits[slot / 8] |= (uint8_t)(1u << (slot % 8));
	return was;
}

/* Prints the events not printed yet, in time order; returns how many. */
static size_t st_follow_once(struct st_dump *d, const char *path, struct st_seen *seen, FILE *out)
{
	struct st_trace t;
	st_trace_load(&t, path, 0);
	struct st_ev *fresh = malloc((t.nevs + 1) * sizeof *fresh);
	size_t n = 0;
	for (size_t i = 0; i < t.nevs; i++)
		if (!st_seen_test_set(seen, t.evs[i].offset) && st_filter_match(&d->filter, &t.evs[i]))
			fresh[n++] = t.evs[i];
	if (n) {
		qsort(fresh, n, sizeof *fresh, st_ev_cmp);
		d->traces = &t;
		d->ntraces = 1;
		d->symbols = st_sym_new(&t, 1);
		st_view_events(d, fresh, n, out);
		st_sym_free(d->symbols);
		d->symbols = NULL;
		d->traces = NULL; /* t lives only in this call */
		d->ntraces = 0;
		fflush(out);
	}
	free(fresh);
	st_trace_free(&t);
	return n;
}

int st_follow(struct st_dump *d, const char *path, FILE *out)
{
	struct sigaction sa = {.sa_handler = st_on_stop};
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	struct st_seen seen = {0};
	size_t total = 0;
	while (!st_stop) {
		total += st_follow_once(d, path, &seen, out);
		struct timespec ts = {0, ST_FOLLOW_POLL_MS * 1000000L};
		nanosleep(&ts, NULL);
	}
	free(seen.bits);
	if (!d->json)
		fprintf(stderr, "socktrace-dump: %zu events\n", total);
	return 0;
}
