/* The trace format through the real writer (shim/core/st_record.c, st_file.c) and
 * the real reader (tools/reader/st_trace.c): every family and every call round-trips,
 * and every kind of damage gives a located error with earlier records kept. */
#define _GNU_SOURCE
#include <criterion/criterion.h>
#include <fcntl.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "../shim/core/st_core.h"
#include "harness.h"
#include "../tools/reader/st_fmt.h"


static char dir[64], trace[128];

static void setup(void)
{
	st_pid = 4242; /* the writer's process, as a front-end sets it */
	h_tmpdir(dir, sizeof dir);
	snprintf(trace, sizeof trace, "%s/f.trace", dir);
}

static void teardown(void)
{
	st_record_reset_thread();
	st_file_forget();
	h_rmdir(dir);
}

TestSuite(format, .init = setup, .fini = teardown, .timeout = 30);

static struct st_addr inet4(const char *ip, unsigned port)
{
	struct st_addr a = {.len = sizeof(struct sockaddr_in)};
	struct sockaddr_in *in = (struct sockaddr_in *)&a.ss;
	in->sin_family = AF_INET;
	in->sin_port = htons((uint16_t)port);
	inet_pton(AF_INET, ip, &in->sin_addr);
	return a;
}

static struct st_addr inet6(const char *ip, unsigned port)
{
	struct st_addr a = {.len = sizeof(struct sockaddr_in6)};
	struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)&a.ss;
	in6->sin6_family = AF_INET6;
	in6->sin6_port = htons((uint16_t)port);
	inet_pton(AF_INET6, ip, &in6->sin6_addr);
	return a;
}

static struct st_addr unix_ep(const char *name, size_t n)
{
	struct st_addr a = {.len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + n)};
	struct sockaddr_un *un = (struct sockaddr_un *)&a.ss;
	un->sun_family = AF_UNIX;
	memcpy(un->sun_path, name, n);
	return a;
}

static void write_trace(uint64_t capacity)
{
	const char *why = NULL;
	cr_assert_eq(st_file_attach(trace, capacity, &why), 0, "attach: %s", why ? why : "");
}

struct sample {
	uint8_t op;
	struct st_addr local, peer;
	const char *want_local, *want_peer;
};

Test(format, every_family_and_call_round_trips)
{
	struct sample s[] = {
		{ST_OP_CONNECT, inet4("127.0.0.1", 4000), inet4("127.0.0.2", 80), "127.0.0.1:4000", "127.0.0.2:80"},
		{ST_OP_ACCEPT, inet6("::1", 443), inet6("::ffff:127.0.0.1", 5000), "[::1]:443", "[::ffff:127.0.0.1]:5000"},
		{ST_OP_ACCEPT4, unix_ep("/run/x.sock", 12), unix_ep("", 0), "unix:/run/x.sock", "unix:"},
		{ST_OP_GETSOCKNAME, unix_ep("\0abstract", 9), unix_ep("/a", 3), "unix:@abstract", "unix:/a"},
		{ST_OP_GETPEERNAME, {0}, inet4("10.1.2.3", 65535), "none", "10.1.2.3:65535"},
	};
	size_t n = sizeof s / sizeof s[0];
	write_trace(1 << 20);
	const uint64_t t0 = 1795570000123456789ull;
	for (size_t i = 0; i < n; i++) {
		struct st_outcome done = {t0 + i * 1001, (int)i - 1, i == 0 ? ECONNREFUSED : 0};
		st_record_event(s[i].op, (int)i + 3,
				s[i].op == ST_OP_ACCEPT || s[i].op == ST_OP_ACCEPT4 ? 7 : -1, &done,
				&s[i].local, &s[i].peer, 0, NULL);
	}
	struct st_trace t;
	h_load(&t, trace);
	cr_assert_eq(t.nevs, n);
	for (size_t i = 0; i < n; i++) {
		const struct st_ev *e = &t.evs[i];
		char b[160];
		cr_expect_eq(e->op, s[i].op);
		cr_expect_eq(e->ts, t0 + i * 1001);
		cr_expect_eq(e->fd, (int)i + 3);
		cr_expect_eq(e->ret, (int)i - 1);
		cr_expect_eq(e->err, i == 0 ? ECONNREFUSED : 0);
		cr_expect_eq(e->pid, 4242);
		cr_expect_eq(e->listen_fd, s[i].op == ST_OP_ACCEPT || s[i].op == ST_OP_ACCEPT4 ? 7 : -1);
		cr_expect_str_eq(h_ep(&e->local, b, sizeof b), s[i].want_local);
		cr_expect_str_eq(h_ep(&e->peer, b, sizeof b), s[i].want_peer);
	}
	st_trace_free(&t);
}

/* A front-end that writes for other processes (a tracer) names them: the
 * records carry that pid and tid, and the writer's own again once reset. */
Test(format, a_writer_names_whose_records_it_writes)
{
	write_trace(1 << 20);
	struct st_addr a = inet4("127.0.0.1", 80);
	struct st_outcome done = {1000, 0, 0};
	st_record_as(777, 778);
	st_record_event(ST_OP_CONNECT, 3, -1, &done, &a, &a, 0, NULL);
	st_record_process(1, "/x", 2, "x", 1, "h", 1);
	struct st_close c = {.ts_ns = 2000, .fd = 3, .how = ST_END_CLOSE, .role = ST_ROLE_CLIENT};
	st_record_close(&c, NULL, NULL);
	st_record_as(0, 0);
	done.ts_ns = 3000;
	st_record_event(ST_OP_CONNECT, 4, -1, &done, &a, &a, 0, NULL);
	struct st_trace t;
	h_load(&t, trace);
	cr_assert_eq(t.nevs, 2);
	cr_expect_eq(t.evs[0].pid, 777);
	cr_expect_eq(t.evs[0].tid, 778);
	cr_expect_eq(t.procs[0].pid, 777);
	cr_assert_eq(t.ncloses, 1);
	cr_expect_eq(t.closes[0].pid, 777);
	cr_expect_eq(t.closes[0].tid, 778);
	cr_expect_eq(t.evs[1].pid, 4242);
	cr_expect_eq(t.evs[1].tid, (uint32_t)gettid());
	st_trace_free(&t);
}

Test(format, process_record_round_trips)
{
	write_trace(1 << 20);
	const char cmd[] = "prog\0--flag";
	st_record_process(17, "/usr/bin/prog", 13, cmd, sizeof cmd - 1, "host1", 5);
	struct st_trace t;
	h_load(&t, trace);
	cr_assert_eq(t.nprocs, 1);
	cr_expect_eq(t.procs[0].ppid, 17);
	cr_expect_eq(t.procs[0].pid, 4242);
	cr_expect_eq(t.procs[0].cmd_len, sizeof cmd - 1);
	cr_expect(memcmp(t.procs[0].exe, "/usr/bin/prog", 13) == 0);
	cr_expect(memcmp(t.procs[0].host, "host1", 5) == 0);
	st_trace_free(&t);
}

Test(format, full_file_counts_dropped)
{
	write_trace(ST_HEADER_SIZE + ST_CHUNK_SIZE);
	struct st_addr a = inet4("127.0.0.1", 1);
	struct st_outcome done = st_outcome_of(0, 0);
	for (int i = 0; i < 1000; i++)
		st_record_event(ST_OP_GETSOCKNAME, 3, -1, &done, &a, &a, 0, NULL);
	struct st_trace t;
	h_load(&t, trace);
	cr_assert_gt(t.nevs, 100);
	cr_assert_eq(t.nevs + t.dropped, 1000);
	st_trace_free(&t);
}

Test(format, fdcache_forgets_replaced_fds)
{
	struct st_addr l = inet4("127.0.0.1", 1000), p = inet4("127.0.0.1", 2000), gl, gp;
	st_fdcache_store(9, &l, &p);
	cr_assert(st_fdcache_load(9, &gl, &gp));
	cr_assert_eq(gl.len, l.len);
	cr_assert(memcmp(&gp.ss, &p.ss, p.len) == 0);
	st_fdcache_forget(9);
	cr_assert_not(st_fdcache_load(9, &gl, &gp));
	st_fdcache_store(9, &l, &p);
	st_fdcache_store(12, &l, &p);
	st_fdcache_forget_range(10, ~0u);
	cr_assert(st_fdcache_load(9, &gl, &gp));
	cr_assert_not(st_fdcache_load(12, &gl, &gp));
	cr_assert_not(st_fdcache_load(-1, &gl, &gp));
	cr_assert_not(st_fdcache_load(1 << 20, &gl, &gp));
}

/* ---- damaged files ---- */

static uint8_t *good;
static size_t good_size;

/* A whole trace of 3 events in one chunk, 1 in a second chunk's thread. */
static void make_good(void)
{
	write_trace(1 << 20);
	struct st_addr a = inet4("127.0.0.1", 1), b = inet6("::1", 2);
	struct st_outcome done = st_outcome_of(0, 0);
	for (int i = 0; i < 3; i++)
		st_record_event(ST_OP_CONNECT, i, -1, &done, &a, &b, 0, NULL);
	int fd = open(trace, O_RDONLY);
	struct stat st;
	fstat(fd, &st);
	good_size = ST_HEADER_SIZE + ST_CHUNK_SIZE;
	good = malloc(good_size);
	cr_assert(pread(fd, good, good_size, 0) == (ssize_t)good_size);
	close(fd);
	/* what a clean exit leaves: next_chunk = one chunk */
	struct st_header *h = (struct st_header *)good;
	cr_assert_eq(h->next_chunk, ST_CHUNK_SIZE);
}

static int parse(uint8_t *data, size_t size, struct st_trace *t)
{
	return st_trace_parse(t, data, size, 0);
}

static const size_t ev_size = sizeof(struct st_event) + ST_INET_SHORT_LEN + 32;

static void expect_error(uint8_t *data, size_t size, size_t kept, const char *offset,
			 const char *words)
{
	struct st_trace t;
	cr_assert_eq(parse(data, size, &t), -1, "no error reported");
	cr_expect_eq(t.nevs, kept, "records kept: %zu", t.nevs);
	cr_expect(strstr(t.error, offset) == t.error, "error '%s' lacks '%s'", t.error, offset);
	cr_expect_not_null(strstr(t.error, words), "error '%s' lacks '%s'", t.error, words);
	st_trace_free(&t);
}

Test(format, whole_file_parses)
{
	make_good();
	struct st_trace t;
	cr_assert_eq(parse(good, good_size, &t), 0, "%s", t.error);
	cr_assert_eq(t.nevs, 3);
	st_trace_free(&t);
	free(good);
}

/* What a writer killed between creating the file and writing its header
 * leaves: a trace with nothing in it yet, not a damaged one. */
Test(format, empty_or_zero_file_is_an_unwritten_trace)
{
	static uint8_t zero[ST_HEADER_SIZE + ST_CHUNK_SIZE];
	size_t sizes[] = {0, 100, sizeof zero};
	for (size_t i = 0; i < 3; i++) {
		struct st_trace t;
		cr_assert_eq(st_trace_parse(&t, zero, sizes[i], 0), 0, "%s", t.error);
		cr_assert(t.unwritten);
		cr_assert_eq(t.nevs, 0);
		cr_assert_not_null(strstr(t.warning, "no trace header yet"));
		st_trace_free(&t);
	}
}

Test(format, foreign_file)
{
	uint8_t junk[5000];
	memset(junk, 'x', sizeof junk);
	expect_error(junk, sizeof junk, 0, "offset 0:", "bad magic");
}

Test(format, short_header)
{
	make_good();
	expect_error(good, 100, 0, "offset 100:", "inside the trace header");
	free(good);
}

Test(format, newer_version)
{
	make_good();
	((struct st_header *)good)->version = ST_VERSION + 1;
	expect_error(good, good_size, 0, "offset 8:", "newer");
	free(good);
}

Test(format, header_lies_about_size)
{
	make_good();
	((struct st_header *)good)->next_chunk = 12345;
	expect_error(good, good_size, 0, "offset 24:", "lies about its size");
	free(good);
}

Test(format, header_lies_about_layout)
{
	make_good();
	((struct st_header *)good)->chunk_size = 3;
	expect_error(good, good_size, 0, "offset 12:", "lies about its layout");
	free(good);
}

static uint64_t *word_at(size_t index)
{
	return (uint64_t *)(good + ST_HEADER_SIZE + index * ev_size);
}

Test(format, record_length_zero)
{
	make_good();
	*word_at(2) = ST_REC_WORD(0, ST_REC_EVENT);
	char off[32];
	snprintf(off, sizeof off, "offset %zu:", ST_HEADER_SIZE + 2 * ev_size);
	expect_error(good, good_size, 2, off, "length 0");
	free(good);
}

Test(format, record_past_chunk_end)
{
	make_good();
	*word_at(1) = ST_REC_WORD(ST_CHUNK_SIZE * 2, ST_REC_EVENT);
	char off[32];
	snprintf(off, sizeof off, "offset %zu:", ST_HEADER_SIZE + ev_size);
	expect_error(good, good_size, 1, off, "past the end");
	free(good);
}

Test(format, corrupt_marker)
{
	make_good();
	*word_at(1) ^= 1ull << 50;
	expect_error(good, good_size, 1, "offset", "bad marker");
	free(good);
}

Test(format, unknown_record_type_is_skipped_with_warning)
{
	make_good();
	*word_at(1) = ST_REC_WORD(ev_size, 99);
	struct st_trace t;
	cr_assert_eq(parse(good, good_size, &t), 0, "%s", t.error);
	cr_expect_eq(t.nevs, 2);
	cr_expect_not_null(strstr(t.warning, "unknown record type 99"), "%s", t.warning);
	st_trace_free(&t);
	free(good);
}

Test(format, truncated_file_keeps_records_before)
{
	make_good();
	size_t cut = ST_HEADER_SIZE + 2 * ev_size + 20;
	char off[32];
	snprintf(off, sizeof off, "offset %zu:", ST_HEADER_SIZE + 2 * ev_size);
	expect_error(good, cut, 2, off, "truncated");
	free(good);
}

Test(format, torn_record_is_invisible)
{
	make_good();
	*word_at(2) = 0; /* a writer killed before its commit store */
	struct st_trace t;
	cr_assert_eq(parse(good, good_size, &t), 0, "%s", t.error);
	cr_expect_eq(t.nevs, 2);
	st_trace_free(&t);
	free(good);
}

Test(format, event_contents_inconsistent)
{
	make_good();
	struct st_event *e = (struct st_event *)word_at(0);
	e->local_len = 200;
	expect_error(good, good_size, 0, "offset 4096:", "impossible sizes");
	free(good);
}

Test(format, directory_and_fifo_are_refused)
{
	struct st_trace t;
	cr_assert_eq(st_trace_load(&t, dir, 0), -1);
	cr_expect_not_null(strstr(t.error, "directory"), "%s", t.error);
	st_trace_free(&t);
	char fifo[160];
	snprintf(fifo, sizeof fifo, "%s/fifo", dir);
	cr_assert(mkfifo(fifo, 0600) == 0);
	cr_assert_eq(st_trace_load(&t, fifo, 0), -1);
	cr_expect_not_null(strstr(t.error, "FIFO"), "%s", t.error);
	st_trace_free(&t);
}

/* docs/FORMAT.md names each record's struct and size: they must be the
 * header's (a doc that said 48 for a 56-byte module record misled readers). */
Test(format, the_documented_sizes_are_the_headers)
{
	static const struct {
		const char *name;
		size_t size;
	} structs[] = {
		{"st_event", sizeof(struct st_event)},     {"st_process", sizeof(struct st_process)},
		{"st_module", sizeof(struct st_module)},   {"st_result", sizeof(struct st_result)},
		{"st_close", sizeof(struct st_close)},     {"st_resolve", sizeof(struct st_resolve)},
		{"st_resolved", sizeof(struct st_resolved)}, {"st_peer", sizeof(struct st_peer)},
		{"st_context", sizeof(struct st_context)},
		{"st_short_event", sizeof(struct st_short_event)},
		{"st_short_close", sizeof(struct st_short_close)},
		{"st_short_close_ends", sizeof(struct st_short_close_ends)},
		{"st_short_result", sizeof(struct st_short_result)},
		{"st_pycode", sizeof(struct st_pycode)}, {"st_jitsym", sizeof(struct st_jitsym)},
		{"st_note", sizeof(struct st_note)},
	};
	FILE *f = fopen("docs/FORMAT.md", "r");
	cr_assert_not_null(f, "docs/FORMAT.md: %s", strerror(errno));
	static char doc[1 << 16];
	size_t n = fread(doc, 1, sizeof doc - 1, f);
	fclose(f);
	doc[n] = '\0';
	for (size_t i = 0; i < sizeof structs / sizeof structs[0]; i++) {
		char want[64];
		snprintf(want, sizeof want, "`struct %s`", structs[i].name);
		const char *p = strstr(doc, want);
		cr_assert_not_null(p, "FORMAT.md does not name %s", want);
		p += strlen(want);
		while (*p && (*p < '0' || *p > '9'))
			p++;
		cr_assert_eq(strtoul(p, NULL, 10), structs[i].size, "%s: the doc says %lu, sizeof %zu",
			     structs[i].name, strtoul(p, NULL, 10), structs[i].size);
	}
	char version[64];
	snprintf(version, sizeof version, "# socktrace trace format, version %d\n", ST_VERSION);
	cr_assert(strncmp(doc, version, strlen(version)) == 0, "the title names version %d",
		  ST_VERSION);
	cr_assert_eq(ST_CLOSE_V2_SIZE, offsetof(struct st_close, bytes_sent));
}

/* The views' line builder (tools/reader/st_fmt.h): a line longer than its
 * buffer goes out whole and in order, numbers and strings alike. */
Test(format, a_line_longer_than_its_buffer_is_written_whole_and_in_order)
{
	char *got = NULL;
	size_t got_len = 0;
	FILE *f = open_memstream(&got, &got_len);
	cr_assert_not_null(f);
	static char expect[8192];
	size_t n = 0;
	struct st_line l;
	st_line_init(&l, f);
	for (int i = 0; i < 700; i++) { /* about 2.6 KiB, past ST_LINE_CAP */
		st_line_i(&l, i - 350);
		st_line_c(&l, ',');
		n += (size_t)sprintf(expect + n, "%d,", i - 350);
	}
	static char big[3000];
	memset(big, 'x', sizeof big);
	st_line_mem(&l, big, sizeof big);
	memcpy(expect + n, big, sizeof big);
	n += sizeof big;
	st_line_lit(&l, "(tail ");
	st_line_u_width(&l, 42, 6);
	st_line_c(&l, ')');
	n += (size_t)sprintf(expect + n, "(tail %06d)", 42);
	st_line_flush(&l);
	fclose(f);
	cr_assert_eq(got_len, n);
	cr_assert(memcmp(got, expect, n) == 0, "%.80s", got);
	free(got);
}

/* The views' numbers, written two digits at a time after a digit count
 * from the bit length: every power of ten and its neighbours, both ends of
 * 64 bits, negatives, and zero-padded widths, against printf. */
Test(format, numbers_print_as_printf_prints_them)
{
	char *got = NULL;
	size_t got_len = 0;
	FILE *f = open_memstream(&got, &got_len);
	cr_assert_not_null(f);
	static char expect[16384];
	size_t n = 0;
	struct st_line l;
	st_line_init(&l, f);
	uint64_t p = 1;
	for (int d = 0; d < 20; d++, p *= 10) {
		const uint64_t near[] = {p - 1, p, p + 1, p * 2 + 7};
		for (int k = 0; k < 4; k++) {
			st_line_u(&l, near[k]);
			st_line_c(&l, ' ');
			n += (size_t)sprintf(expect + n, "%llu ", (unsigned long long)near[k]);
			st_line_i(&l, -(int64_t)(near[k] / 2));
			st_line_c(&l, ' ');
			n += (size_t)sprintf(expect + n, "%lld ", -(long long)(near[k] / 2));
		}
		st_line_u_width(&l, near[1] % 1000000, 6);
		st_line_u_width(&l, near[0] % 1000, 3);
		n += (size_t)sprintf(expect + n, "%06llu%03llu", (unsigned long long)(near[1] % 1000000),
				     (unsigned long long)(near[0] % 1000));
	}
	st_line_u(&l, UINT64_MAX);
	st_line_i(&l, INT64_MIN);
	n += (size_t)sprintf(expect + n, "%llu%lld", (unsigned long long)UINT64_MAX,
			     (long long)INT64_MIN);
	st_line_flush(&l);
	fclose(f);
	cr_assert_eq(got_len, n, "%s\n%s", got, expect);
	cr_assert(memcmp(got, expect, n) == 0, "%s\n%s", got, expect);
	free(got);
}

/* The program a loader's command line runs (shim/core/st_loaderargs.c):
 * after the loader's options, those with an argument skipped, "--" ending
 * them; none for only options, and none for a line cut short (a command
 * line is untrusted: nothing is read past its length). */
static const char *loader_prog(const char *cmd, size_t len)
{
	return st_loader_program_arg(cmd, len);
}

#define LOADER_CMD(s) loader_prog(s, sizeof(s) - 1)

Test(format, the_program_a_loader_runs_is_found_after_its_options)
{
	cr_expect_str_eq(LOADER_CMD("/lib64/ld.so\0./prog\0arg\0"), "./prog");
	cr_expect_str_eq(LOADER_CMD("ld.so\0--library-path\0/x\0--argv0\0name\0--inhibit-cache\0"
				    "/bin/p\0"),
			 "/bin/p");
	cr_expect_str_eq(LOADER_CMD("ld.so\0--audit\0a.so\0--\0--odd/name\0"), "--odd/name");
	cr_expect_null(LOADER_CMD("ld.so\0--list\0--verify\0"));
	cr_expect_null(LOADER_CMD("ld.so\0--preload\0"));
	cr_expect_null(LOADER_CMD("ld.so\0--\0"));
	/* cut short: the last string has no NUL within the length */
	cr_expect_null(loader_prog("ld.so\0./prog", 12));
	cr_expect_null(loader_prog("ld.so", 5));
	cr_expect_null(loader_prog("", 0));
}
