/* log.c - structured logs: one JSON object per line on stderr (time, level, msg, fields). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "log.h"

static const char *const level_names[] = { "debug", "info", "warn", "error" };

int
log_parse_level(const char *s, enum log_level *level)
{
	size_t i;

	for (i = 0; i < sizeof(level_names) / sizeof(level_names[0]); i++)
		if (strcmp(s, level_names[i]) == 0) {
			*level = (enum log_level)i;
			return 0;
		}
	return -1;
}

const char *
log_level_str(enum log_level level)
{
	return (unsigned)level < sizeof(level_names) / sizeof(level_names[0]) ?
	    level_names[level] : "unknown";
}

int
log_enabled(const struct logger *lg, enum log_level level)
{
	return level >= lg->min;
}

static void
format_time(char *buf, size_t len)
{
	struct timespec ts;
	struct tm tm;
	char sec[32];

	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	strftime(sec, sizeof(sec), "%Y-%m-%dT%H:%M:%S", &tm);
	snprintf(buf, len, "%s.%03ldZ", sec, ts.tv_nsec / 1000000L);
}

static void
write_all(int fd, const char *p, size_t n)
{
	while (n > 0) {
		ssize_t w = write(fd, p, n);

		if (w <= 0)
			return;	/* a log line is not worth blocking or failing over */
		p += w;
		n -= (size_t)w;
	}
}

/*
 * The line is {"time":..,"level":..,"msg":.. followed by the fields object's own text, so the
 * fields are serialised once rather than copied into a second object first: a rewrite's log line
 * sits on the webhook's hot path.
 */
void
log_write(const struct logger *lg, enum log_level level, const char *msg, json_object *fields)
{
	char when[48], head[128], stack[1024], *buf = stack;
	json_object *m = NULL;
	const char *quoted, *rest = "}";
	size_t hl, ql, rl, n;

	if (!log_enabled(lg, level))
		goto out;
	format_time(when, sizeof(when));
	/* time and level are plain ASCII: nothing in them to escape */
	hl = (size_t)snprintf(head, sizeof(head), "{\"time\":\"%s\",\"level\":\"%s\",\"msg\":",
	    when, log_level_str(level));
	if ((m = json_object_new_string(msg)) == NULL)
		goto out;
	quoted = json_object_to_json_string_ext(m, JSON_C_TO_STRING_PLAIN |
	    JSON_C_TO_STRING_NOSLASHESCAPE);
	if (fields != NULL && json_object_object_length(fields) > 0) {
		rest = json_object_to_json_string_ext(fields, JSON_C_TO_STRING_PLAIN |
		    JSON_C_TO_STRING_NOSLASHESCAPE);
		rest++;		/* past its '{': its members follow msg, after a comma */
	}
	ql = strlen(quoted);
	rl = strlen(rest);
	n = hl + ql + (rest[0] != '}') + rl + 1;
	if (n > sizeof(stack) && (buf = malloc(n)) == NULL)
		goto out;
	memcpy(buf, head, hl);
	memcpy(buf + hl, quoted, ql);
	if (rest[0] != '}')
		buf[hl + ql] = ',';
	memcpy(buf + n - rl - 1, rest, rl);
	buf[n - 1] = '\n';
	write_all(lg->fd, buf, n);	/* one write(2): concurrent lines never interleave */
	if (buf != stack)
		free(buf);
out:
	json_object_put(m);
	json_object_put(fields);
}

void
log_simple(const struct logger *lg, enum log_level level, const char *msg, const char *key,
    const char *value)
{
	json_object *fields = NULL;

	if (!log_enabled(lg, level))
		return;
	if (key != NULL) {
		fields = json_object_new_object();
		if (fields != NULL)
			json_object_object_add(fields, key, json_object_new_string(value ? value : ""));
	}
	log_write(lg, level, msg, fields);
}
