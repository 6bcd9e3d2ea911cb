/* clock_cost: what one reading of each candidate clock for the trace costs
 * here, and whether the TSC may be used (invariant, and the kernel's own
 * clocksource): "vdso NS rdtsc NS invariant yes|no source NAME". */
#define _GNU_SOURCE
#include <cpuid.h>
#include <stdio.h>
#include <string.h>
#include <x86intrin.h>

#include "bench.h"

#define CLOCK_READS 10000000L

static bool clock_tsc_invariant(void)
{
	unsigned a, b, c, d;
	return __get_cpuid(0x80000007u, &a, &b, &c, &d) && (d & (1u << 8));
}

int main(void)
{
	char source[64] = "?";
	FILE *f = fopen("/sys/devices/system/clocksource/clocksource0/current_clocksource", "r");
	if (f != NULL) {
		if (fgets(source, sizeof source, f) == NULL)
			strcpy(source, "?");
		source[strcspn(source, "\n")] = '\0';
		fclose(f);
	}
	volatile uint64_t sink = 0;
	uint64_t start = bench_now();
	for (long i = 0; i < CLOCK_READS; i++)
		sink += bench_now();
	double vdso = (double)(bench_now() - start) / CLOCK_READS;
	start = bench_now();
	for (long i = 0; i < CLOCK_READS; i++)
		sink += __rdtsc();
	double tsc = (double)(bench_now() - start) / CLOCK_READS;
	printf("vdso %.1f rdtsc %.1f invariant %s source %s\n", vdso, tsc,
	       clock_tsc_invariant() ? "yes" : "no", source);
	return sink == 42;
}
