/* The default view: one line (or JSON object) per event, with its stack. */
#define _GNU_SOURCE
#include <string.h>

#include "st_dump.h"
#include "st_endpoint.h"
#include "st_fmt.h"

static void st_print_result(struct st_line *l, const struct st_ev *ev)
{
	st_line_lit(l, " = ");
	st_line_i(l, ev->ret);
	if (ev->err) {
		const char *name = strerrorname_np(ev->err);
		const char *desc = strerrordesc_np(ev->err);
		if (name) {
			st_line_c(l, ' ');
			st_line_s(l, name);
			st_line_lit(l, " (");
			st_line_s(l, desc ? desc : "");
			st_line_c(l, ')');
		} else {
			st_line_lit(l, " errno ");
			st_line_i(l, ev->err);
		}
	}
}

static const char *st_obj_name(const struct st_frame *f)
{
	return f->obj ? f->obj : "??";
}

/* "    at inner+0x1a (/path/prog) prog.c:12" */
void st_stack_print(FILE *out, const struct st_ev *ev, const struct st_dump *o)
{
	if (ev->flags & ST_EV_STACK_SKIPPED)
		fputs("    (no stack: the call interrupted the dynamic loader or the shim)\n", out);
	for (unsigned i = 0; i < ev->nframes;) {
		struct st_frame f;
		i += st_frame_at(o, ev, i, &f);
		fputs("    at ", out);
		if (f.py) {
			/* "at fetch_config (app.py:3) [py]", as Python names it */
			st_fput_escaped_cstr(out, f.sym ? f.sym : "??");
			fputs(" (", out);
			st_fput_escaped_cstr(out, f.file ? f.file : "?");
			if (f.line)
				fprintf(out, ":%d", f.line);
			fputs(") [py]\n", out);
			continue;
		}
		if (f.jit) {
			/* "at fetchConfig (/srv/app.js:12:20) [js]", "at Foo::bar [jit]",
			 * "at pkg.Foo.bar (Foo.java:12) [java]" */
			st_fput_escaped_cstr(out, f.sym);
			if (f.file) {
				fputs(" (", out);
				st_fput_escaped_cstr(out, f.file);
				if (f.line)
					fprintf(out, ":%d", f.line);
				fputc(')', out);
			}
			fputs(f.js ? " [js]\n" : f.java ? " [java]\n" : " [jit]\n", out);
			continue;
		}
		if (f.sym) {
			st_fput_escaped_cstr(out, f.sym);
			fprintf(out, "+0x%llx (", (unsigned long long)f.off);
			st_fput_escaped_cstr(out, st_obj_name(&f));
			fputs(")", out);
		} else if (f.obj) {
			/* the object's own address of the return, as addr2line -e obj takes it */
			fputs("?? (", out);
			st_fput_escaped_cstr(out, f.obj);
			fprintf(out, "+0x%llx)", (unsigned long long)f.off);
		} else {
			fprintf(out, "?? [0x%llx]", (unsigned long long)f.ip);
		}
		if (f.file) {
			fputc(' ', out);
			st_fput_escaped_cstr(out, f.file);
			fprintf(out, ":%d", f.line);
		}
		if (f.changed)
			fputs(" (object changed since the trace was taken)", out);
		fputc('\n', out);
	}
}

static void st_print_stack_json(FILE *out, const struct st_ev *ev, const struct st_dump *o)
{
	if (ev->flags & ST_EV_STACK_SKIPPED)
		fputs(",\"stack_skipped\":true", out);
	fputs(",\"stack\":[", out);
	for (unsigned i = 0; i < ev->nframes;) {
		struct st_frame f;
		fputs(i ? "," : "", out);
		i += st_frame_at(o, ev, i, &f);
		if (f.py) {
			fprintf(out, "{\"py\":true,\"code\":\"0x%llx\",\"instr\":%lld,\"sym\":",
				(unsigned long long)f.ip, (long long)(int64_t)f.off);
			st_json_cstr(out, f.sym);
			fputs(",\"file\":", out);
			st_json_cstr(out, f.file);
			if (f.line)
				fprintf(out, ",\"line\":%d}", f.line);
			else
				fputs(",\"line\":null}", out);
			continue;
		}
		/* a Java method the interpreter ran: "ip" is its synthetic address */
		fprintf(out, "{%s\"ip\":\"0x%llx\",\"sym\":",
			f.java ? "\"jit\":true,\"java\":true," : f.jit ? "\"jit\":true," : "",
			(unsigned long long)f.ip);
		st_json_cstr(out, f.sym);
		fprintf(out, ",\"off\":%llu,\"obj\":", (unsigned long long)f.off);
		st_json_cstr(out, f.obj);
		fputs(",\"file\":", out);
		st_json_cstr(out, f.file);
		if (f.line)
			fprintf(out, ",\"line\":%d", f.line);
		else
			fputs(",\"line\":null", out);
		fputs(f.changed ? ",\"changed\":true}" : "}", out);
	}
	fputc(']', out);
}

/* The call's name into l, its length measured once per call kind: a
 * strlen per line was a tenth of -n's time. */
static void st_line_op(struct st_line *l, uint8_t op)
{
	static size_t lens[256];
	const char *name = st_op_name(op);
	if (lens[op] == 0)
		lens[op] = strlen(name);
	st_line_mem(l, name, lens[op]);
}

/* The event's line is built in memory and written at once (st_fmt.h);
 * its stack follows through stdio. */
static void st_print_text(FILE *out, const struct st_ev *ev, const struct st_dump *o)
{
	struct st_line l;
	st_line_init(&l, out);
	st_line_time(&l, ev->ts);
	bool accepts = ev->op == ST_OP_ACCEPT || ev->op == ST_OP_ACCEPT4;
	st_line_c(&l, ' ');
	st_line_u(&l, ev->pid);
	st_line_c(&l, '/');
	st_line_u(&l, ev->tid);
	st_line_c(&l, ' ');
	st_line_op(&l, ev->op);
	st_line_c(&l, '(');
	st_line_i(&l, accepts ? ev->listen_fd : ev->fd);
	st_line_c(&l, ')');
	st_print_result(&l, ev);
	if (ev->op == ST_OP_HELD && ev->listen_fd >= 0) { /* found connected at an attach */
		st_line_lit(&l, " server of ");
		st_line_i(&l, ev->listen_fd);
	} else if (ev->op == ST_OP_HELD) {
		st_line_lit(&l, " client");
	}
	if (st_ep_sa(&ev->local)) {
		st_line_lit(&l, " local=");
		st_endpoint_text_line(&l, &ev->local, o->numeric);
	}
	if (st_ep_sa(&ev->peer)) {
		st_line_lit(&l, " peer=");
		st_endpoint_text_line(&l, &ev->peer, o->numeric);
	}
	st_line_c(&l, '\n');
	st_line_flush(&l);
	st_stack_print(out, ev, o);
}

static void st_print_json(FILE *out, const struct st_ev *ev, const struct st_dump *o)
{
	struct st_line l;
	st_line_init(&l, out);
	st_line_lit(&l, "{\"ts\":");
	st_line_u(&l, ev->ts);
	st_line_lit(&l, ",\"pid\":");
	st_line_u(&l, ev->pid);
	st_line_lit(&l, ",\"tid\":");
	st_line_u(&l, ev->tid);
	st_line_lit(&l, ",\"op\":\"");
	st_line_op(&l, ev->op);
	st_line_lit(&l, "\",\"fd\":");
	st_line_i(&l, ev->fd);
	st_line_lit(&l, ",\"ret\":");
	st_line_i(&l, ev->ret);
	const char *name = ev->err ? strerrorname_np(ev->err) : NULL;
	if (name) {
		st_line_lit(&l, ",\"errno\":\"");
		st_line_s(&l, name);
		st_line_lit(&l, "\",");
	} else if (ev->err) {
		st_line_lit(&l, ",\"errno\":\"E");
		st_line_i(&l, ev->err);
		st_line_lit(&l, "\",");
	} else {
		st_line_lit(&l, ",\"errno\":null,");
	}
	if (st_ev_is_accept(ev)) {
		st_line_lit(&l, "\"listen_fd\":");
		st_line_i(&l, ev->listen_fd);
		st_line_c(&l, ',');
	}
	st_line_lit(&l, "\"local\":");
	st_endpoint_json_line(&l, &ev->local);
	st_line_lit(&l, ",\"peer\":");
	st_endpoint_json_line(&l, &ev->peer);
	if (ev->nframes == 0 && !(ev->flags & ST_EV_STACK_SKIPPED)) {
		st_line_lit(&l, ",\"stack\":[]}\n"); /* what st_print_stack_json prints */
		st_line_flush(&l);
		return;
	}
	st_line_flush(&l);
	st_print_stack_json(out, ev, o);
	fputs("}\n", out);
}

void st_view_event(struct st_dump *d, const struct st_ev *ev, FILE *out)
{
	if (d->json)
		st_print_json(out, ev, d);
	else
		st_print_text(out, ev, d);
}
