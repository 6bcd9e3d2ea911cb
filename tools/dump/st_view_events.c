/* The default view: one line (or JSON object) per event, with its stack. */
#define _GNU_SOURCE
#include <string.h>

#include "st_dump.h"
#include "st_endpoint.h"
#include "st_fmt.h"

static void st_print_result(FILE *out, const struct st_ev *ev)
{
	st_put_s(out, " = ");
	st_put_i(out, ev->ret);
	if (ev->err) {
		const char *name = strerrorname_np(ev->err);
		const char *desc = strerrordesc_np(ev->err);
		if (name) {
			st_put_c(out, ' ');
			st_put_s(out, name);
			st_put_s(out, " (");
			st_put_s(out, desc ? desc : "");
			st_put_c(out, ')');
		} else {
			st_put_s(out, " errno ");
			st_put_i(out, ev->err);
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
			/* "at fetchConfig (/srv/app.js:12:20) [js]", "at Foo::bar [jit]" */
			st_fput_escaped_cstr(out, f.sym);
			if (f.file) {
				fputs(" (", out);
				st_fput_escaped_cstr(out, f.file);
				fputc(')', out);
			}
			fputs(f.js ? " [js]\n" : " [jit]\n", out);
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
		fprintf(out, "{%s\"ip\":\"0x%llx\",\"sym\":", f.jit ? "\"jit\":true," : "",
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

static void st_print_text(FILE *out, const struct st_ev *ev, const struct st_dump *o)
{
	st_print_time(out, ev->ts);
	bool accepts = ev->op == ST_OP_ACCEPT || ev->op == ST_OP_ACCEPT4;
	st_put_c(out, ' ');
	st_put_u(out, ev->pid);
	st_put_c(out, '/');
	st_put_u(out, ev->tid);
	st_put_c(out, ' ');
	st_put_s(out, st_op_name(ev->op));
	st_put_c(out, '(');
	st_put_i(out, accepts ? ev->listen_fd : ev->fd);
	st_put_c(out, ')');
	st_print_result(out, ev);
	if (ev->op == ST_OP_HELD && ev->listen_fd >= 0) { /* found connected at an attach */
		st_put_s(out, " server of ");
		st_put_i(out, ev->listen_fd);
	} else if (ev->op == ST_OP_HELD) {
		st_put_s(out, " client");
	}
	if (st_ep_sa(&ev->local)) {
		fputs(" local=", out);
		st_endpoint_text(out, &ev->local, o->numeric);
	}
	if (st_ep_sa(&ev->peer)) {
		fputs(" peer=", out);
		st_endpoint_text(out, &ev->peer, o->numeric);
	}
	fputc('\n', out);
	st_stack_print(out, ev, o);
}

static void st_print_json(FILE *out, const struct st_ev *ev, const struct st_dump *o)
{
	st_put_s(out, "{\"ts\":");
	st_put_u(out, ev->ts);
	st_put_s(out, ",\"pid\":");
	st_put_u(out, ev->pid);
	st_put_s(out, ",\"tid\":");
	st_put_u(out, ev->tid);
	st_put_s(out, ",\"op\":\"");
	st_put_s(out, st_op_name(ev->op));
	st_put_s(out, "\",\"fd\":");
	st_put_i(out, ev->fd);
	st_put_s(out, ",\"ret\":");
	st_put_i(out, ev->ret);
	const char *name = ev->err ? strerrorname_np(ev->err) : NULL;
	if (name) {
		st_put_s(out, ",\"errno\":\"");
		st_put_s(out, name);
		st_put_s(out, "\",");
	} else if (ev->err) {
		st_put_s(out, ",\"errno\":\"E");
		st_put_i(out, ev->err);
		st_put_s(out, "\",");
	} else {
		st_put_s(out, ",\"errno\":null,");
	}
	if (st_ev_is_accept(ev)) {
		st_put_s(out, "\"listen_fd\":");
		st_put_i(out, ev->listen_fd);
		st_put_c(out, ',');
	}
	fputs("\"local\":", out);
	st_endpoint_json(out, &ev->local);
	fputs(",\"peer\":", out);
	st_endpoint_json(out, &ev->peer);
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
