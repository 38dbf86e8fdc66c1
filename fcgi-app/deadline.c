/*
 * Time budgets. A request gets one deadline on the monotonic clock, fixed
 * from when the web server received it; every wait below (connect, each
 * read and write, the named lock, back-off between attempts) is cut to
 * what is left, so the worker answers before the web server gives up.
 * The monotonic clock itself is read here, for everyone (metrics, the
 * back-off's jitter, the tools' timings).
 */
#include "config.h"

#include <stdint.h>
#include <time.h>

#include "app.h"

/* Microseconds on the monotonic clock (vDSO: no system call). */
int64_t
clock_mono_us(void)
{
	struct timespec	ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ((int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000);
}

/* Milliseconds on the wall clock, as the web server stamps arrivals. */
static int64_t
clock_wall_ms(void)
{
	struct timespec	ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return ((int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000);
}

/*
 * The deadline of a request the web server received at arrived_ms (wall
 * clock; 0 when it did not say) with budget_ms to spend. An arrival in
 * the future (clocks apart, or a forged value) counts as now.
 */
int64_t
deadline_at(int64_t arrived_ms, unsigned int budget_ms)
{
	int64_t	wall = clock_wall_ms(), mono = clock_mono_us() / 1000;

	if (arrived_ms <= 0 || arrived_ms > wall)
		arrived_ms = wall;
	return (mono - (wall - arrived_ms) + budget_ms);
}

/* Milliseconds left before deadline (0 or less: spent); 0 = no deadline. */
int64_t
deadline_left_ms(int64_t deadline)
{
	if (deadline == 0)
		return (INT64_MAX);
	return (deadline - clock_mono_us() / 1000);
}
