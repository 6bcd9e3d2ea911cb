/*
 * pyembed SCRIPT: loads CPython as a plugin would (dlopen of libpython,
 * RTLD_LOCAL: its symbols in no global scope) and runs SCRIPT in it, for
 * the Python frames of a program that is not python3 itself.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <stdio.h>

int main(int argc, char **argv)
{
	if (argc != 2) {
		fputs("usage: pyembed SCRIPT\n", stderr);
		return 2;
	}
	void *py = dlopen("libpython3.11.so.1.0", RTLD_NOW | RTLD_LOCAL);
	if (py == NULL) {
		fprintf(stderr, "pyembed: %s\n", dlerror());
		return 77;
	}
	void (*init)(void) = (void (*)(void))dlsym(py, "Py_Initialize");
	int (*run)(FILE *, const char *) = (int (*)(FILE *, const char *))dlsym(py, "PyRun_SimpleFile");
	int (*fini)(void) = (int (*)(void))dlsym(py, "Py_FinalizeEx");
	FILE *f = fopen(argv[1], "r");
	if (init == NULL || run == NULL || fini == NULL || f == NULL) {
		fputs("pyembed: no CPython API or no script\n", stderr);
		return 77;
	}
	init();
	int rc = run(f, argv[1]);
	fclose(f);
	return fini() < 0 || rc != 0;
}
