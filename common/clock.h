/* clock.h - the one monotonic clock the tools time things with */
#ifndef NH_CLOCK_H
#define NH_CLOCK_H

/* Seconds on CLOCK_MONOTONIC: for durations and rates, never dates. */
double nh_now(void);

#endif
