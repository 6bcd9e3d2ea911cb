/* Endpoints as people read them: (host, port) text or JSON objects. */
#ifndef ST_ENDPOINT_H
#define ST_ENDPOINT_H

#include <stdbool.h>
#include <stdio.h>
#include <sys/socket.h>

#include "st_fmt.h"
#include "st_trace.h"

/* Text like the book: "(localhost, 32835)", "(unix, /path)", "(unix, @name)". */
void st_endpoint_text(FILE *out, const struct st_endpoint *ep, bool numeric);
/* The same, and JSON's object, into a line being built (st_fmt.h). */
void st_endpoint_text_line(struct st_line *l, const struct st_endpoint *ep, bool numeric);
void st_endpoint_json_line(struct st_line *l, const struct st_endpoint *ep);
/* As ss prints it: "127.0.0.1:80", "[::1]:80", "unix:/path". */
void st_endpoint_ss(FILE *out, const struct st_endpoint *ep);
/* The same into buf (always terminated). */
void st_endpoint_ss_str(const struct st_endpoint *ep, char *buf, size_t size);
/* JSON object or null. */
void st_endpoint_json(FILE *out, const struct st_endpoint *ep);
/* JSON string literal of n bytes, escaped. */
void st_json_string(FILE *out, const char *s, size_t n);
/* A NUL-terminated string as a JSON string, or null when s is NULL. */
void st_json_cstr(FILE *out, const char *s);
/* Host name for an inet address: from /etc/hosts, and from reverse DNS only
 * once allowed (it sends packets), looked up at most once per address, with
 * a time limit: numeric when the lookup fails or is slow. */
void st_endpoint_allow_dns(bool allow);
const char *st_host_name(const struct sockaddr *sa, socklen_t len, char *num, size_t numlen);

#endif
