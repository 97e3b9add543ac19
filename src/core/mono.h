/*
 * Timed waits on the monotonic clock. A board without a real-time clock (a
 * Raspberry Pi) steps its wall clock at boot, often by years: a condition
 * variable timed against CLOCK_REALTIME then sleeps for that long, or not at
 * all. Every pthread_cond_timedwait in the daemon waits on a condition
 * variable made by mono_cond_init with a deadline from mono_deadline_ms.
 * No state; safe from any thread.
 */
#ifndef OTAD_CORE_MONO_H
#define OTAD_CORE_MONO_H

#include <pthread.h>
#include <stdint.h>
#include <time.h>

/*
 * Initializes COND (caller-owned storage) so that pthread_cond_timedwait
 * reads its deadline on CLOCK_MONOTONIC. Release it with
 * pthread_cond_destroy. Returns 0, or -errno from pthread (-ENOMEM, -EAGAIN).
 */
int mono_cond_init(pthread_cond_t *cond);

/*
 * Writes to *RET_DEADLINE the CLOCK_MONOTONIC time MS milliseconds from now
 * (a negative MS counts as 0): the deadline for pthread_cond_timedwait on a
 * condition variable from mono_cond_init.
 */
void mono_deadline_ms(struct timespec *ret_deadline, int64_t ms);

#endif
