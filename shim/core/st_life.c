/*
 * Where each socket fd is in its connection's life: born (type and protocol
 * known), connect pending, connected, accepted; and since when.  One atomic
 * word per fd, so a close in one thread and a getsockopt in another never
 * tear it: the closer takes the word with an exchange, and only the taker
 * records the end.  The table is paged (st_fdpages.c) like the fd cache.
 *
 * A forked child inherits its parent's sockets but not their connections'
 * ends: the parent's later close does that.  Each word carries the
 * generation of the process that stored it; the child bumps its own, and
 * what it inherited is forgotten silently when it closes it.
 */
#define _GNU_SOURCE
#include <netinet/in.h>
#include <sys/mman.h>
#include <sys/socket.h>

#include "st_core.h"


struct st_lifeslot {
	uint64_t word;     /* state | flags << 8 | gen << 16 | 1 << 63 (valid); 0 = unknown */
	uint64_t since_ns; /* connect began, or accept returned */
};
const size_t st_life_page_bytes = ST_LIFE_PAGE * sizeof(struct st_lifeslot);

#define ST_LIFE_VALID (1ull << 63)
#define ST_LIFE_FROM_PARENT (1ull << 62) /* inherited across fork */


/*
 * A socket named by several fds (dup, dup2, dup3): its state lives here, with
 * how many of our fds name it; the close of the last one ends it.  A shared
 * fd's slot holds the index in since_ns.  Fixed size, no malloc: past it,
 * a duplicated socket is not followed, and counted in the header.
 */

/*
 * A vfork child (or any CLONE_VM child the shim was not told of) runs in its
 * parent's memory: its close or dup2 before exec would end the parent's
 * connections in the parent's table.  Checked only where a followed socket
 * is about to change, so other fds' calls pay nothing; one getpid then.
 */
static bool st_life_owner(void)
{
	/* a tracer's tables are its own: no child runs in their memory */
	if (!st_tab->check_owner)
		return true;
	return (uint32_t)st_raw_syscall(SYS_getpid, 0, 0, 0, 0, 0, 0) == st_pid;
}

static struct st_lifeslot *st_life_slot(int fd, bool make)
{
	return st_fdpages_entry(st_tab->life_pages, ST_LIFE_PAGE, sizeof(struct st_lifeslot), fd, make);
}

static uint64_t st_life_word(enum st_life_state state, uint8_t flags)
{
	return ST_LIFE_VALID | (uint64_t)state | (uint64_t)flags << 8 |
	       (uint64_t)(__atomic_load_n(&st_tab->life_gen, __ATOMIC_RELAXED) & 0xffff) << 16;
}

static bool st_life_mine(uint64_t w)
{
	return (w & ST_LIFE_VALID) &&
	       ((w >> 16) & 0xffff) == (__atomic_load_n(&st_tab->life_gen, __ATOMIC_RELAXED) & 0xffff);
}

/*
 * A connection the parent had at fork, made this process's own: the child
 * follows it from then on, flagged, so that its close is recorded as one of
 * several (ST_CLOSE_FORKED) and never as the end of the parent's connection.
 * A socket named by several fds (dup) is adopted too: its shared entry was
 * copied with this process's memory, with a count of the fds this process
 * holds (fork copied them all), and is marked inherited.  Out of line: it
 * runs once per inherited socket.
 */
static __attribute__((noinline)) uint64_t st_life_adopt(struct st_lifeslot *s, uint64_t w)
{
	enum st_life_state state = (enum st_life_state)(w & 0xff);
	if (state < ST_LIFE_PENDING || state > ST_LIFE_INHERITED)
		return w;
	uint64_t index = __atomic_load_n(&s->since_ns, __ATOMIC_RELAXED);
	if (state == ST_LIFE_SHARED && index < ST_SOCKTAB_CONNS)
		__atomic_store_n(&st_tab->conns[index].from_parent, 1, __ATOMIC_RELAXED);
	uint64_t own = st_life_word(state, (uint8_t)(w >> 8)) | ST_LIFE_FROM_PARENT;
	if (__atomic_compare_exchange_n(&s->word, &w, own, false, __ATOMIC_ACQ_REL,
					__ATOMIC_ACQUIRE))
		return own;
	return w; /* changed meanwhile: whatever it is now */
}

/* The slot's word, adopted first when inherited across fork. */
static inline uint64_t st_life_load(struct st_lifeslot *s)
{
	uint64_t w = __atomic_load_n(&s->word, __ATOMIC_ACQUIRE);
	if (ST_LIKELY(!(w & ST_LIFE_VALID) || st_life_mine(w)))
		return w;
	return st_life_adopt(s, w);
}

void st_life_forked(uint64_t now_ns)
{
	__atomic_store_n(&st_tab->forked_ns, now_ns, __ATOMIC_RELAXED);
}

/* Whether a socket followed since since_ns was open at this process's last fork. */
static bool st_life_was_forked(uint64_t since_ns)
{
	uint64_t forked = __atomic_load_n(&st_tab->forked_ns, __ATOMIC_RELAXED);
	return forked != 0 && since_ns <= forked;
}

uint8_t st_life_flags_of(int domain, int type, int protocol)
{
	int t = type & 0xf; /* without SOCK_NONBLOCK, SOCK_CLOEXEC */
	uint8_t sock = t == SOCK_STREAM ? ST_SOCK_STREAM : t == SOCK_DGRAM ? ST_SOCK_DGRAM
		       : t == SOCK_SEQPACKET ? ST_SOCK_SEQPACKET : ST_SOCK_UNKNOWN;
	uint8_t proto = ST_PROTO_OTHER;
	if (domain == AF_INET || domain == AF_INET6) {
		if (protocol == IPPROTO_TCP || (protocol == 0 && sock == ST_SOCK_STREAM))
			proto = ST_PROTO_TCP;
		else if (protocol == IPPROTO_UDP || (protocol == 0 && sock == ST_SOCK_DGRAM))
			proto = ST_PROTO_UDP;
	}
	return (uint8_t)(sock << ST_EV_SOCK_SHIFT | proto << ST_EV_PROTO_SHIFT);
}

void st_life_set(int fd, enum st_life_state state, uint8_t flags, uint64_t since_ns)
{
	struct st_lifeslot *s = st_life_slot(fd, true);
	if (s == NULL) {
		if (state != ST_LIFE_BORN && fd >= 0)
			st_record_unfollowed(); /* fd past the table (or no memory) */
		return;
	}
	__atomic_store_n(&s->since_ns, since_ns, __ATOMIC_RELAXED);
	__atomic_store_n(&s->word, st_life_word(state, flags), __ATOMIC_RELEASE);
}

/* A shared fd reads as the socket it shares. */
static void st_life_resolve(enum st_life_state *state, uint8_t *flags, uint64_t *since_ns)
{
	if (*state != ST_LIFE_SHARED || *since_ns >= ST_SOCKTAB_CONNS)
		return;
	const struct st_conn *c = &st_tab->conns[*since_ns];
	*state = (enum st_life_state)__atomic_load_n(&c->state, __ATOMIC_RELAXED);
	*flags = __atomic_load_n(&c->flags, __ATOMIC_RELAXED);
	*since_ns = __atomic_load_n(&c->since_ns, __ATOMIC_RELAXED);
}

bool st_life_get(int fd, enum st_life_state *state, uint8_t *flags, uint64_t *since_ns)
{
	struct st_lifeslot *s = st_life_slot(fd, false);
	uint64_t w = s ? st_life_load(s) : 0;
	if (!st_life_mine(w))
		return false;
	*state = (enum st_life_state)(w & 0xff);
	*flags = (uint8_t)(w >> 8);
	*since_ns = __atomic_load_n(&s->since_ns, __ATOMIC_RELAXED);
	st_life_resolve(state, flags, since_ns);
	return true;
}

/* newfd now names what oldfd names.  A socket being connected or
 * connected gets a shared state (once), counted per fd. */
void st_life_share(int oldfd, int newfd)
{
	struct st_lifeslot *s = st_life_slot(oldfd, false);
	/* loaded, so adopted when inherited across fork: the inetd and forking
	 * server pattern, dup2(s, 0) then close(s), in the child */
	uint64_t w = s ? st_life_load(s) : 0;
	if (!st_life_mine(w) || !st_life_owner())
		return;
	enum st_life_state state = (enum st_life_state)(w & 0xff);
	uint8_t flags = (uint8_t)(w >> 8);
	uint64_t index = __atomic_load_n(&s->since_ns, __ATOMIC_RELAXED);
	if (state == ST_LIFE_SHARED) {
		if (index >= ST_SOCKTAB_CONNS)
			return;
		__atomic_fetch_add(&st_tab->conns[index].refs, 1, __ATOMIC_ACQ_REL);
	} else if (state >= ST_LIFE_PENDING && state <= ST_LIFE_INHERITED) {
		for (index = 0; index < ST_SOCKTAB_CONNS; index++) {
			uint32_t free_refs = 0;
			if (__atomic_compare_exchange_n(&st_tab->conns[index].refs, &free_refs, 2, false,
							__ATOMIC_ACQ_REL, __ATOMIC_RELAXED))
				break;
		}
		if (index == ST_SOCKTAB_CONNS) {
			st_life_forget(oldfd); /* no room: neither fd is followed */
			st_record_unfollowed();
			return;
		}
		struct st_conn *c = &st_tab->conns[index];
		c->state = (uint8_t)state;
		c->flags = flags;
		c->from_parent = (w & ST_LIFE_FROM_PARENT) != 0;
		c->open_fd = oldfd;
		c->since_ns = __atomic_load_n(&s->since_ns, __ATOMIC_RELAXED);
		st_life_set(oldfd, ST_LIFE_SHARED, flags, index);
	} else {
		st_life_forget(newfd);
		return;
	}
	st_life_set(newfd, ST_LIFE_SHARED, flags, index);
}

/* Moves a pending connect on to state, unless someone else did first. */
bool st_life_settle(int fd, enum st_life_state state)
{
	struct st_lifeslot *s = st_life_slot(fd, false);
	uint64_t w = s ? st_life_load(s) : 0;
	if (!st_life_mine(w) || (w & 0xff) != ST_LIFE_PENDING)
		return false;
	uint64_t next = (w & ~0xffull) | state;
	return __atomic_compare_exchange_n(&s->word, &w, next, false, __ATOMIC_ACQ_REL,
					   __ATOMIC_RELAXED);
}

bool st_life_take(int fd, enum st_life_state *state, uint8_t *flags, uint64_t *since_ns,
		  uint8_t *close_flags, int *open_fd)
{
	*open_fd = fd;
	struct st_lifeslot *s = st_life_slot(fd, false);
	if (s == NULL)
		return false;
	/* every close of every fd comes here: no locked exchange for an fd
	 * that was never a followed socket */
	if (__atomic_load_n(&s->word, __ATOMIC_RELAXED) == 0 || !st_life_owner())
		return false;
	st_life_load(s); /* adopts a slot inherited across fork: its close is flagged FORKED */
	uint64_t since = __atomic_load_n(&s->since_ns, __ATOMIC_RELAXED);
	uint64_t w = __atomic_exchange_n(&s->word, 0, __ATOMIC_ACQ_REL);
	if (!st_life_mine(w))
		return false;
	*state = (enum st_life_state)(w & 0xff);
	*flags = (uint8_t)(w >> 8);
	*since_ns = since;
	*close_flags = (w & ST_LIFE_FROM_PARENT) ? ST_CLOSE_FORKED : 0;
	if (*state != ST_LIFE_SHARED) {
		if (st_life_was_forked(since))
			*close_flags |= ST_CLOSE_SHARED;
		return true;
	}
	/* one fd fewer names the socket: only the last one ends it */
	if (since >= ST_SOCKTAB_CONNS)
		return false;
	*open_fd = __atomic_load_n(&st_tab->conns[since].open_fd, __ATOMIC_RELAXED);
	st_life_resolve(state, flags, since_ns);
	if (st_life_was_forked(*since_ns))
		*close_flags |= ST_CLOSE_SHARED;
	if (__atomic_load_n(&st_tab->conns[since].from_parent, __ATOMIC_RELAXED))
		*close_flags |= ST_CLOSE_FORKED;
	return __atomic_fetch_sub(&st_tab->conns[since].refs, 1, __ATOMIC_ACQ_REL) == 1;
}

void st_life_forget(int fd)
{
	struct st_lifeslot *s = st_life_slot(fd, false);
	if (s && __atomic_load_n(&s->word, __ATOMIC_RELAXED) != 0 && st_life_owner())
		__atomic_store_n(&s->word, 0, __ATOMIC_RELEASE);
}

void st_life_new_process(void)
{
	__atomic_fetch_add(&st_tab->life_gen, 1, __ATOMIC_RELAXED);
	__atomic_store_n(&st_tab->forked_ns, 0, __ATOMIC_RELAXED); /* none of its own yet */
}

int st_life_high(void)
{
	return st_fdpages_high(st_tab->life_pages, ST_LIFE_PAGE);
}
