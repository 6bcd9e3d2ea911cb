/* JIT frames (version 5): perf-map entries a trace copied, and frames named
 * from them. */
#ifndef ST_JITSYMS_H
#define ST_JITSYMS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct st_jitsyms;

struct st_jitsyms *st_jitsyms_new(void);
/* An entry of process pid's map: copied; later ones win where they overlap. */
void st_jitsyms_add(struct st_jitsyms *j, uint32_t pid, uint64_t start, uint64_t size,
		    const char *name, size_t name_len);
/* The JIT's name for ip in pid, NULL when no entry holds it: for V8's
 * "JS:~fetchConfig /srv/app.js:12:20", *fn "fetchConfig" (or "(anonymous)")
 * and *where "/srv/app.js:12:20"; otherwise *fn the whole name and *where
 * NULL.  *js: the name is V8's; *java: the shim's name of an interpreted
 * Java method ("Java:pkg.Class.method File.java:12": *fn "pkg.Class.method",
 * *where "File.java", *line 12 (0 unknown; 0 for all others).  Strings live
 * as long as j. */
bool st_jitsyms_name(struct st_jitsyms *j, uint32_t pid, uint64_t ip, const char **fn,
		     const char **where, int *line, bool *js, bool *java);
void st_jitsyms_free(struct st_jitsyms *j);

#endif
