/*
 * --html FILE: one self-contained page, nothing loaded from the network (no
 * CDN, font or script from elsewhere): the summary, the service map as inline
 * SVG (rendered by Graphviz's dot when it is installed; otherwise the page
 * says how to get it), a timeline drawn here as SVG (an axis of wall-clock
 * times, a strip of connections per interval for the whole run, then one lane
 * per client -> server pair with each connection a bar from its start to its
 * close over it, coloured by result, its tooltip saying when, how long, how it
 * ended and what it carried), and the connections table, sortable by a few
 * lines of inline script, with the client's and the server's code.  Every byte that came from a trace is escaped: a crafted
 * program name or socket path cannot inject markup.  The table and timeline
 * keep the first ST_HTML_ROWS connections; the page says how many more the
 * map counts.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "st_xalloc.h"
#include "st_dump.h"
#include "st_endpoint.h"
#include "st_graph.h"

#define ST_HTML_ROWS 2000

struct st_hrow {
	uint64_t start, end;
	char client[96], server[96], client_end[80], server_end[80];
	char result[24], client_code[160], server_code[160];
	char client_lane[96], server_lane[96]; /* services, without pids: the lanes */
	char *client_stack, *server_stack; /* the whole stacks as text, or NULL */
	bool have_connect, have_duration, have_bytes;
	uint64_t connect_ns, duration_ns, tx, rx;
};

struct st_html {
	struct st_hrow *rows;
	size_t nrows, more;
	size_t total, failed;
	uint64_t first, last;
	uint64_t *starts; /* every connection's start, for the rate strip */
	uint8_t *starts_failed;
	size_t nstarts, starts_cap;
};

/* Text for an HTML element or attribute: trace bytes escaped, then markup. */
static void st_html_text(FILE *out, const char *s)
{
	char safe[1024];
	st_escape(safe, sizeof safe, s, strlen(s));
	for (const char *p = safe; *p; p++) {
		switch (*p) {
		case '&': fputs("&amp;", out); break;
		case '<': fputs("&lt;", out); break;
		case '>': fputs("&gt;", out); break;
		case '"': fputs("&quot;", out); break;
		case '\'': fputs("&#39;", out); break;
		default: fputc(*p, out);
		}
	}
}

static void st_who(const struct st_proc *p, const struct st_ev *ev, uint32_t untraced_pid,
		   char *out, size_t size)
{
	if (ev == NULL && untraced_pid) {
		snprintf(out, size, "pid %u (untraced)", untraced_pid);
		return;
	}
	if (ev == NULL) {
		snprintf(out, size, "(not traced)");
		return;
	}
	char name[64];
	st_proc_name(p, name, sizeof name);
	snprintf(out, size, "%s[%u]", name, ev->pid);
}

void st_html_row(struct st_dump *d, const struct st_conn_row *r)
{
	if (d->html == NULL)
		d->html = st_xcalloc(1, sizeof *d->html);
	struct st_html *h = d->html;
	const struct st_ev *first = r->client ? r->client : r->server;
	h->total++;
	bool failed = strcmp(r->result, "ok") != 0 && strcmp(r->result, "open") != 0;
	h->failed += failed;
	if (h->first == 0 || first->ts < h->first)
		h->first = first->ts;
	uint64_t end = r->client_end_ns > r->server_end_ns ? r->client_end_ns : r->server_end_ns;
	if (end < first->ts)
		end = first->ts;
	if (end > h->last)
		h->last = end;
	if (h->nstarts == h->starts_cap) {
		h->starts_cap = h->starts_cap ? h->starts_cap * 2 : 1024;
		h->starts = st_xrealloc(h->starts, h->starts_cap, sizeof *h->starts);
		h->starts_failed = st_xrealloc(h->starts_failed, h->starts_cap, 1);
	}
	h->starts[h->nstarts] = first->ts;
	h->starts_failed[h->nstarts++] = failed;
	if (h->nrows == ST_HTML_ROWS) {
		h->more++;
		return;
	}
	if (h->rows == NULL)
		h->rows = st_xcalloc(ST_HTML_ROWS, sizeof *h->rows);
	struct st_hrow *x = &h->rows[h->nrows++];
	x->start = first->ts;
	x->end = end;
	st_who(r->client_proc, r->client, r->untraced_client_pid, x->client, sizeof x->client);
	st_who(r->server_proc, r->server, 0, x->server, sizeof x->server);
	if (r->client)
		st_endpoint_ss_str(&r->client->local, x->client_end, sizeof x->client_end);
	else
		st_endpoint_ss_str(&r->server->peer, x->client_end, sizeof x->client_end);
	if (r->server)
		st_endpoint_ss_str(&r->server->local, x->server_end, sizeof x->server_end);
	else
		st_endpoint_ss_str(&r->client->peer, x->server_end, sizeof x->server_end);
	if (r->name && !r->server)
		snprintf(x->server, sizeof x->server, "%s", r->name);
	st_proc_name(r->client_proc, x->client_lane, sizeof x->client_lane);
	if (r->client == NULL)
		snprintf(x->client_lane, sizeof x->client_lane, "%s", x->client_end);
	st_proc_name(r->server_proc, x->server_lane, sizeof x->server_lane);
	if (r->server == NULL) /* untraced: the name or address it was dialled by */
		snprintf(x->server_lane, sizeof x->server_lane, "%s",
			 r->name ? r->name : x->server_end);
	snprintf(x->result, sizeof x->result, "%s", r->result);
	snprintf(x->client_code, sizeof x->client_code, "%s", r->client_top ? r->client_top : "");
	snprintf(x->server_code, sizeof x->server_code, "%s", r->server_top ? r->server_top : "");
	x->client_stack = r->client_stack ? st_xstrdup(r->client_stack) : NULL;
	x->server_stack = r->server_stack ? st_xstrdup(r->server_stack) : NULL;
	x->have_connect = r->have_connect;
	x->connect_ns = r->connect_ns;
	x->have_duration = r->have_duration;
	x->duration_ns = r->duration_ns;
	x->have_bytes = r->have_bytes;
	x->tx = r->tx;
	x->rx = r->rx;
}

/* The map as SVG from dot, or false when dot cannot be run. */
static bool st_html_map(struct st_dump *d, FILE *out)
{
	char dot_in[] = "/tmp/socktrace-map.XXXXXX";
	int fd = mkstemp(dot_in);
	if (fd < 0)
		return false;
	FILE *f = fdopen(fd, "w");
	st_graph_dot(d, f);
	fclose(f);
	int pipefd[2];
	if (pipe(pipefd) < 0) {
		unlink(dot_in);
		return false;
	}
	pid_t pid = fork();
	if (pid == 0) {
		dup2(pipefd[1], 1);
		close(pipefd[0]);
		close(pipefd[1]);
		execlp("dot", "dot", "-Tsvg", dot_in, (char *)NULL);
		_exit(127);
	}
	close(pipefd[1]);
	FILE *svg = fdopen(pipefd[0], "r");
	char line[4096];
	bool body = false, any = false;
	while (svg && fgets(line, sizeof line, svg)) {
		/* the <svg> element and what it holds: no XML prolog or doctype */
		if (!body && strstr(line, "<svg"))
			body = true;
		if (body) {
			fputs(line, out);
			any = true;
		}
	}
	if (svg)
		fclose(svg);
	int status = 0;
	if (pid > 0)
		waitpid(pid, &status, 0);
	unlink(dot_in);
	return pid > 0 && any && WIFEXITED(status) && WEXITSTATUS(status) == 0;
}

static const char *st_result_colour(const char *result)
{
	return strcmp(result, "ok") == 0 ? "#3a7" : strcmp(result, "open") == 0 ? "#39c" : "#d33";
}

/* Lanes are client -> server pairs, in order of their first connection. */
static int st_hrow_order(const void *a, const void *b)
{
	const struct st_hrow *x = a, *y = b;
	int c = strcmp(x->client_lane, y->client_lane);
	if (c == 0)
		c = strcmp(x->server_lane, y->server_lane);
	return c ? c : x->start < y->start ? -1 : x->start > y->start;
}

static bool st_same_lane(const struct st_hrow *a, const struct st_hrow *b)
{
	return strcmp(a->client_lane, b->client_lane) == 0 &&
	       strcmp(a->server_lane, b->server_lane) == 0;
}

/* Geometry of the timeline: a label column, then the plot. */
#define ST_TL_LABEL 330
#define ST_TL_PLOT 640
#define ST_TL_LANE 16
#define ST_TL_BUCKETS 80

static double st_tl_x(const struct st_html *h, uint64_t t, double span)
{
	return ST_TL_LABEL + ST_TL_PLOT * (double)(t - h->first) / span;
}

static void st_clock_text(char *out, size_t size, uint64_t ns)
{
	time_t secs = (time_t)(ns / 1000000000u);
	struct tm tm;
	localtime_r(&secs, &tm);
	snprintf(out, size, "%02d:%02d:%02d.%03u", tm.tm_hour, tm.tm_min, tm.tm_sec,
		 (unsigned)(ns % 1000000000u / 1000000u));
}

/* An axis of six wall-clock ticks over the plot, at y. */
static void st_tl_axis(const struct st_html *h, double span, size_t y, FILE *out)
{
	fprintf(out, "<line x1=\"%d\" y1=\"%zu\" x2=\"%d\" y2=\"%zu\" stroke=\"#999\"/>\n",
		ST_TL_LABEL, y, ST_TL_LABEL + ST_TL_PLOT, y);
	for (int i = 0; i <= 5; i++) {
		uint64_t t = h->first + (uint64_t)(span * i / 5);
		char when[32];
		st_clock_text(when, sizeof when, t);
		double x = st_tl_x(h, t, span);
		fprintf(out, "<line x1=\"%.1f\" y1=\"%zu\" x2=\"%.1f\" y2=\"%zu\" stroke=\"#999\"/>"
			     "<text class=\"tick\" x=\"%.1f\" y=\"%zu\" font-size=\"10\" "
			     "text-anchor=\"middle\">%s</text>\n",
			x, y, x, y + 4, x, y + 15, when);
	}
}

/* Connections started per interval over the whole run (failures in red):
 * how the rate moved, for runs with more connections than can be drawn. */
static void st_tl_rate(const struct st_html *h, double span, size_t y, FILE *out)
{
	size_t all[ST_TL_BUCKETS] = {0}, bad[ST_TL_BUCKETS] = {0}, most = 1;
	for (size_t i = 0; i < h->nstarts; i++) {
		size_t b = (size_t)((double)(h->starts[i] - h->first) / span * ST_TL_BUCKETS);
		b = b >= ST_TL_BUCKETS ? ST_TL_BUCKETS - 1 : b;
		all[b]++;
		bad[b] += h->starts_failed[i];
		most = all[b] > most ? all[b] : most;
	}
	fprintf(out, "<text x=\"0\" y=\"%zu\" font-size=\"11\" font-weight=\"bold\">"
		     "connections started (%zu)</text>\n", y + 20, h->nstarts);
	double w = (double)ST_TL_PLOT / ST_TL_BUCKETS;
	for (size_t b = 0; b < ST_TL_BUCKETS; b++) {
		if (all[b] == 0)
			continue;
		double hgt = 28.0 * (double)all[b] / (double)most, hbad = 28.0 * (double)bad[b] / (double)most;
		char when[32];
		st_clock_text(when, sizeof when, h->first + (uint64_t)(span * (double)b / ST_TL_BUCKETS));
		fprintf(out, "<rect class=\"rate\" x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\" "
			     "fill=\"#8ab\"><title>%s: %zu started, %zu failed</title></rect>\n",
			ST_TL_LABEL + w * (double)b, (double)y + 30 - hgt, w - 1, hgt, when, all[b], bad[b]);
		if (bad[b])
			fprintf(out, "<rect x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\" "
				     "fill=\"#d33\"/>\n",
				ST_TL_LABEL + w * (double)b, (double)y + 30 - hbad, w - 1, hbad);
	}
}

/* A bar's tooltip: when it began, how long, how it ended, what it carried. */
static void st_tl_title(const struct st_hrow *x, FILE *out)
{
	char when[32];
	st_clock_text(when, sizeof when, x->start);
	fputs("<title>", out);
	st_html_text(out, x->client_end);
	fputs(" \u2192 ", out);
	st_html_text(out, x->server_end);
	fprintf(out, "\nstart %s", when);
	if (x->have_duration)
		fprintf(out, ", %.3f ms", (double)x->duration_ns / 1e6);
	fputs(", ", out);
	st_html_text(out, x->result);
	if (x->have_bytes)
		fprintf(out, "\ntx %llu B, rx %llu B", (unsigned long long)x->tx,
			(unsigned long long)x->rx);
	fputs("</title>", out);
}

/* The axis, the rate strip, then one lane per client -> server pair with its
 * connections drawn over it (overlapping bars are as many at once). */
static void st_html_timeline(const struct st_html *h, FILE *out)
{
	struct st_hrow *lanes = st_xmalloc((h->nrows ? h->nrows : 1) * sizeof *lanes);
	if (h->nrows) { /* no rows: h->rows is NULL, which memcpy may not be given */
		memcpy(lanes, h->rows, h->nrows * sizeof *lanes);
		qsort(lanes, h->nrows, sizeof *lanes, st_hrow_order);
	}
	size_t nlanes = 0;
	for (size_t i = 0; i < h->nrows; i++)
		nlanes += i == 0 || !st_same_lane(&lanes[i], &lanes[i - 1]);
	double span = h->last > h->first ? (double)(h->last - h->first) : 1.0;
	size_t lanes_top = 70, height = lanes_top + nlanes * ST_TL_LANE + 10;
	fprintf(out, "<svg id=\"timeline\" xmlns=\"http://www.w3.org/2000/svg\" width=\"%d\" "
		     "height=\"%zu\" role=\"img\">\n",
		ST_TL_LABEL + ST_TL_PLOT + 60, height);
	st_tl_axis(h, span, 8, out);
	st_tl_rate(h, span, 28, out);
	size_t lane = 0;
	for (size_t i = 0, first_of_lane = 0; i < h->nrows; i++) {
		const struct st_hrow *x = &lanes[i];
		if (i == 0 || !st_same_lane(x, &lanes[i - 1])) {
			first_of_lane = i;
			size_t count = 0;
			while (first_of_lane + count < h->nrows &&
			       st_same_lane(&lanes[first_of_lane + count], x))
				count++;
			size_t y = lanes_top + lane++ * ST_TL_LANE;
			fprintf(out, "<text class=\"lane\" x=\"0\" y=\"%zu\" font-size=\"11\">", y + 11);
			st_html_text(out, x->client_lane);
			fputs(" \u2192 ", out);
			st_html_text(out, x->server_lane);
			fprintf(out, " (%zu)</text>\n", count);
		}
		size_t y = lanes_top + (lane - 1) * ST_TL_LANE;
		double x0 = st_tl_x(h, x->start, span);
		double w = ST_TL_PLOT * (double)(x->end - x->start) / span;
		fprintf(out, "<rect class=\"bar\" x=\"%.1f\" y=\"%zu\" width=\"%.1f\" height=\"11\" "
			     "fill=\"%s\" fill-opacity=\"0.6\">",
			x0, y + 2, w < 1.5 ? 1.5 : w, st_result_colour(x->result));
		st_tl_title(x, out);
		fputs("</rect>\n", out);
	}
	fputs("</svg>\n", out);
	free(lanes);
}

static void st_cell_u64(FILE *out, bool have, uint64_t v, double scale, const char *fmt)
{
	if (!have) {
		fputs("<td data-v=\"-1\">-</td>", out);
		return;
	}
	fprintf(out, "<td data-v=\"%llu\">", (unsigned long long)v);
	fprintf(out, fmt, (double)v / scale);
	fputs("</td>", out);
}

/* A code cell: the frame that names the code, the whole stack a click away
 * (a details element: no script needed). */
static void st_html_code(FILE *out, const char *code, const char *stack)
{
	if (stack == NULL || stack[0] == '\0') {
		st_html_text(out, code);
		return;
	}
	fputs("<details><summary>", out);
	st_html_text(out, code);
	fputs("</summary><pre>", out);
	/* a line a frame, each escaped (the text view's own escapes kept) */
	for (const char *line = stack; *line;) {
		const char *nl = strchr(line, '\n');
		size_t n = nl ? (size_t)(nl - line) : strlen(line);
		char one[1024];
		snprintf(one, sizeof one, "%.*s", (int)n, line);
		st_html_text(out, one);
		if (nl)
			fputc('\n', out);
		line += n + (nl != NULL);
	}
	fputs("</pre></details>", out);
}

static void st_html_table(const struct st_html *h, FILE *out)
{
	fputs("<table id=\"connections\"><thead><tr><th>#</th><th>client</th><th>client end</th>"
	      "<th>server end</th><th>server</th><th>result</th><th>connect ms</th>"
	      "<th>duration s</th><th>tx</th><th>rx</th><th>client code</th><th>server code</th>"
	      "</tr></thead><tbody>\n",
	      out);
	for (size_t i = 0; i < h->nrows; i++) {
		const struct st_hrow *x = &h->rows[i];
		fprintf(out, "<tr class=\"row\"><td data-v=\"%zu\">%zu</td><td>", i, i + 1);
		st_html_text(out, x->client);
		fputs("</td><td>", out);
		st_html_text(out, x->client_end);
		fputs("</td><td>", out);
		st_html_text(out, x->server_end);
		fputs("</td><td>", out);
		st_html_text(out, x->server);
		fprintf(out, "</td><td style=\"color:%s\">", st_result_colour(x->result));
		st_html_text(out, x->result);
		fputs("</td>", out);
		st_cell_u64(out, x->have_connect, x->connect_ns, 1e6, "%.3f");
		st_cell_u64(out, x->have_duration, x->duration_ns, 1e9, "%.3f");
		st_cell_u64(out, x->have_bytes, x->tx, 1, "%.0f");
		st_cell_u64(out, x->have_bytes, x->rx, 1, "%.0f");
		fputs("<td>", out);
		st_html_code(out, x->client_code, x->client_stack);
		fputs("</td><td>", out);
		st_html_code(out, x->server_code, x->server_stack);
		fputs("</td></tr>\n", out);
	}
	fputs("</tbody></table>\n", out);
}

static const char st_html_head[] =
	"<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\n"
	"<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; "
	"style-src 'unsafe-inline'; script-src 'unsafe-inline'; img-src data:\">\n"
	"<title>socktrace report</title>\n<style>\n"
	"body{font-family:sans-serif;margin:1.5em;color:#222}"
	"table{border-collapse:collapse;font-size:12px}"
	"td,th{border:1px solid #ccc;padding:2px 6px;text-align:left}"
	"th{cursor:pointer;background:#eee}"
	".note{color:#666;font-size:13px}\n</style></head><body>\n";

static const char st_html_script[] =
	"<script>\n"
	"function label(c){var s=c.querySelector('summary');return (s||c).textContent;}\n"
	"document.querySelectorAll('#connections th').forEach(function(th,col){\n"
	" th.addEventListener('click',function(){\n"
	"  var body=document.querySelector('#connections tbody');\n"
	"  var rows=Array.prototype.slice.call(body.rows);\n"
	"  var up=th.dataset.up!=='1'; th.dataset.up=up?'1':'0';\n"
	"  rows.sort(function(a,b){\n"
	"   var x=a.cells[col],y=b.cells[col];\n"
	"   var p=x.dataset.v,q=y.dataset.v;\n"
	"   var c=(p!==undefined&&q!==undefined)?(Number(p)-Number(q)):"
	"label(x).localeCompare(label(y));\n"
	"   return up?c:-c;});\n"
	"  rows.forEach(function(r){body.appendChild(r);});});});\n"
	"</script>\n";

static void st_html_free(struct st_dump *d, struct st_html *h)
{
	for (size_t i = 0; i < h->nrows; i++) {
		free(h->rows[i].client_stack);
		free(h->rows[i].server_stack);
	}
	free(h->rows);
	free(h->starts);
	free(h->starts_failed);
	if (d->html) {
		free(d->html);
		d->html = NULL;
	}
	st_graph_free(d);
}

void st_html_print(struct st_dump *d, FILE *out)
{
	(void)out;
	static struct st_html none;
	struct st_html *h = d->html ? d->html : &none;
	FILE *f = fopen(d->html_path, "we");
	if (f == NULL) {
		fprintf(stderr, "socktrace-dump: %s: %s\n", d->html_path, strerror(errno));
		exit(2);
	}
	fputs(st_html_head, f);
	fputs("<h1>socktrace report</h1>\n<p id=\"summary\">", f);
	fprintf(f, "%zu processes, %zu connections, %zu failed, %llu events dropped",
		d->procs.n, h->total, h->failed, (unsigned long long)d->dropped);
	if (h->total)
		fprintf(f, ", over %.3f s", (double)(h->last - h->first) / 1e9);
	/* a flight recorder: what is not on the page because it was reused */
	if (d->ring)
		fprintf(f, "; flight recorder: %llu events and %llu other records overwritten "
			   "before the kept window",
			(unsigned long long)d->overwritten, (unsigned long long)d->overwritten_records);
	fputs(".</p>\n", f);
	if (h->total == 0) { /* no empty sections: the page says so */
		fputs("<p class=\"note\" id=\"nothing\">Nothing recorded: the trace holds no "
		      "connection.</p>\n</body></html>\n", f);
		fclose(f);
		st_html_free(d, h);
		return;
	}
	fputs("<h2>Service map</h2>\n<div id=\"map\">\n", f);
	if (!st_html_map(d, f))
		fputs("<p class=\"note\">The map needs Graphviz: <code>apt-get install graphviz</code>"
		      " (or <code>make deps</code>), then make this report again.</p>\n",
		      f);
	fputs("</div>\n<h2>Timeline</h2>\n", f);
	if (h->more)
		fprintf(f, "<p class=\"note\">The lanes draw the first %d connections; the strip "
			   "above them counts all %zu.</p>\n", ST_HTML_ROWS, h->total);
	st_html_timeline(h, f);
	fputs("<h2>Connections</h2>\n", f);
	if (h->more)
		fprintf(f, "<p class=\"note\" id=\"more\">%zu more connections are not listed here; "
			   "the map counts them all.</p>\n",
			h->more);
	st_html_table(h, f);
	fputs(st_html_script, f);
	fputs("</body></html>\n", f);
	fclose(f);
	st_html_free(d, h);
}
