// SPDX-License-Identifier: MIT
/*
 * The shared plumbing of the running controller (service.h): the log, pooled database
 * connections for the service's threads, and the wake-ups between API and workers.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "service.h"

/* How long a thread waits for a pooled connection before it gives up on this step. */
#define SVC_DB_ACQUIRE_TIMEOUT_MS 5000

static pthread_mutex_t log_lock = PTHREAD_MUTEX_INITIALIZER;

void svc_log(const struct ctl_service *s, enum ctl_log_level level, const char *fmt, ...)
{
	static const char *const names[] = {"error", "warn", "info", "debug"};
	char stamp[32];
	struct timespec ts;
	struct tm tm;
	va_list ap;

	if (s && s->cfg && (int)level > s->cfg->log_level)
		return;
	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	strftime(stamp, sizeof(stamp), "%Y-%m-%dT%H:%M:%S", &tm);
	/* One lock so that lines from different threads never interleave. */
	pthread_mutex_lock(&log_lock);
	fprintf(stderr, "%s.%03ldZ %s ", stamp, ts.tv_nsec / 1000000,
	        (unsigned)level < 4 ? names[level] : "?");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	fflush(stderr);
	pthread_mutex_unlock(&log_lock);
}

int svc_db_acquire(struct ctl_service *s, struct db_conn **ret)
{
	struct db_error err = {0};
	int r;

	r = db_acquire(s->db, SVC_DB_ACQUIRE_TIMEOUT_MS, ret, &err);
	if (r < 0) {
		atomic_fetch_add(&s->metrics.db_errors, 1);
		svc_log(s, CTL_LOG_WARN, "database: %s",
		        err.message[0] ? err.message : strerror(-r));
	}
	return r;
}

void svc_kick_workers(struct ctl_service *s)
{
	pthread_mutex_lock(&s->lock);
	s->queued_seq++;
	pthread_cond_broadcast(&s->jobs_queued);
	pthread_mutex_unlock(&s->lock);
}

void svc_job_finished(struct ctl_service *s, uint64_t vpn_id)
{
	pthread_mutex_lock(&s->lock);
	s->finished_seq++;
	s->finished_vpn[s->finished_seq % SVC_FINISHED_RING] = vpn_id;
	pthread_cond_broadcast(&s->jobs_finished);
	pthread_mutex_unlock(&s->lock);
}

static void deadline_after(unsigned ms, struct timespec *ret)
{
	clock_gettime(CLOCK_MONOTONIC, ret);
	ret->tv_sec += ms / 1000;
	ret->tv_nsec += (long)(ms % 1000) * 1000000L;
	if (ret->tv_nsec >= 1000000000L) {
		ret->tv_sec++;
		ret->tv_nsec -= 1000000000L;
	}
}

static void wait_seq(struct ctl_service *s, pthread_cond_t *cond, const uint64_t *seq,
                     uint64_t *seen, unsigned timeout_ms)
{
	struct timespec until;

	deadline_after(timeout_ms, &until);
	pthread_mutex_lock(&s->lock);
	while (*seq == *seen && !atomic_load(&s->stopping))
		if (pthread_cond_timedwait(cond, &s->lock, &until) == ETIMEDOUT)
			break;
	*seen = *seq;
	pthread_mutex_unlock(&s->lock);
}

void svc_wait_queued(struct ctl_service *s, uint64_t *seen, unsigned timeout_ms)
{
	wait_seq(s, &s->jobs_queued, &s->queued_seq, seen, timeout_ms);
}

/* Called with s->lock held: whether vpn_id's job is among those finished after seen. */
static bool vpn_finished_since(const struct ctl_service *s, uint64_t vpn_id, uint64_t seen)
{
	if (s->finished_seq - seen >= SVC_FINISHED_RING)
		return true; /* the ring has wrapped: cannot tell */
	for (uint64_t q = seen + 1; q <= s->finished_seq; q++)
		if (s->finished_vpn[q % SVC_FINISHED_RING] == vpn_id)
			return true;
	return false;
}

bool svc_wait_vpn_finished(struct ctl_service *s, uint64_t vpn_id, uint64_t *seen,
                           unsigned timeout_ms)
{
	struct timespec until;
	bool found = false;

	deadline_after(timeout_ms, &until);
	pthread_mutex_lock(&s->lock);
	while (!atomic_load(&s->stopping)) {
		if (s->finished_seq != *seen) {
			found = vpn_finished_since(s, vpn_id, *seen);
			*seen = s->finished_seq;
			if (found)
				break;
		}
		if (pthread_cond_timedwait(&s->jobs_finished, &s->lock, &until) == ETIMEDOUT)
			break;
	}
	pthread_mutex_unlock(&s->lock);
	return found;
}

void svc_sleep(struct ctl_service *s, unsigned timeout_ms)
{
	struct timespec until;

	deadline_after(timeout_ms, &until);
	pthread_mutex_lock(&s->lock);
	while (!atomic_load(&s->stopping))
		if (pthread_cond_timedwait(&s->jobs_queued, &s->lock, &until) == ETIMEDOUT)
			break;
	pthread_mutex_unlock(&s->lock);
}

static uint64_t monotonic_ms(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (uint64_t)t.tv_sec * 1000 + (uint64_t)t.tv_nsec / 1000000;
}

void svc_every(struct ctl_service *s, uint64_t interval_ms, bool (*step)(void *arg), void *arg)
{
	while (!atomic_load(&s->stopping)) {
		uint64_t t0 = monotonic_ms(), spent;
		bool ok = step(arg);

		spent = monotonic_ms() - t0;
		if (!ok && interval_ms > SVC_RETRY_MS)
			svc_sleep(s, SVC_RETRY_MS);
		else if (spent < interval_ms)
			svc_sleep(s, (unsigned)(interval_ms - spent));
	}
}
