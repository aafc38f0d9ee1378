// SPDX-License-Identifier: GPL-2.0
/*
 * Prints the host's TSC frequency in kHz, measured against CLOCK_MONOTONIC_RAW.
 * run-scenario.sh passes it to TCG guests as tsc_early_khz: QEMU's TCG reads the guest's TSC
 * from the host's (rdtsc), and a guest that cannot calibrate its TSC (no HPET or ACPI PM timer
 * in the test kernel, PIT calibration failing on a loaded host) may otherwise run its clock
 * several times too fast. Five samples of 50 ms, each bracketed by two rdtsc reads; the
 * median of those whose bracket was not interrupted is printed.
 */
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <x86intrin.h>

static double sample_khz(void)
{
	struct timespec a, b, pause = { 0, 50 * 1000 * 1000 };
	unsigned long long a0, a1, b0, b1;
	double ns;

	a0 = __rdtsc();
	clock_gettime(CLOCK_MONOTONIC_RAW, &a);
	a1 = __rdtsc();
	nanosleep(&pause, NULL);
	b0 = __rdtsc();
	clock_gettime(CLOCK_MONOTONIC_RAW, &b);
	b1 = __rdtsc();
	/* A bracket of more than 100,000 cycles means the reads were preempted: discard. */
	if (a1 - a0 > 100000 || b1 - b0 > 100000)
		return 0;
	ns = (b.tv_sec - a.tv_sec) * 1e9 + (b.tv_nsec - a.tv_nsec);
	return ((b0 + b1) / 2.0 - (a0 + a1) / 2.0) / ns * 1e6;
}

static int cmp(const void *x, const void *y)
{
	double a = *(const double *)x, b = *(const double *)y;

	return (a > b) - (a < b);
}

int main(void)
{
	double s[5];
	int i, n = 0;

	for (i = 0; i < 20 && n < 5; i++) {
		double k = sample_khz();

		if (k > 0)
			s[n++] = k;
	}
	if (n == 0)
		return 1;
	qsort(s, n, sizeof(s[0]), cmp);
	printf("%.0f\n", s[n / 2]);
	return 0;
}
