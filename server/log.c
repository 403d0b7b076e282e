/* log.c - structured logs: one JSON object per line on stderr (time, level, msg, fields). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "codec.h"
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

/* text plus a newline in one write(2), so that concurrent lines never interleave. */
static void
write_line(const struct logger *lg, const char *text, size_t n)
{
	char stack[1024], *buf = n + 1 <= sizeof(stack) ? stack : malloc(n + 1);

	if (buf == NULL)
		return;
	memcpy(buf, text, n);
	buf[n] = '\n';
	write_all(lg->fd, buf, n + 1);
	if (buf != stack)
		free(buf);
}

void
log_write(const struct logger *lg, enum log_level level, const char *msg, json_object *fields)
{
	char when[48];
	json_object *line = NULL;
	const char *text;
	size_t n;

	if (!log_enabled(lg, level) || (line = json_object_new_object()) == NULL)
		goto out;
	format_time(when, sizeof(when));
	json_object_object_add(line, "time", json_object_new_string(when));
	json_object_object_add(line, "level", json_object_new_string(log_level_str(level)));
	json_object_object_add(line, "msg", json_object_new_string(msg));
	if (fields != NULL) {
		json_object_object_foreach(fields, key, val)
			json_object_object_add(line, key, json_object_get(val));
	}
	text = json_object_to_json_string_length(line, JSON_C_TO_STRING_PLAIN |
	    JSON_C_TO_STRING_NOSLASHESCAPE, &n);
	write_line(lg, text, n);
out:
	json_object_put(line);
	json_object_put(fields);
}

void
log_strings(const struct logger *lg, enum log_level level, const char *msg,
    const char *const *pairs, size_t npairs)
{
	char when[48];
	const unsigned char *buf;
	yajl_gen g = NULL;
	size_t i, len;

	if (!log_enabled(lg, level) || (g = yajl_gen_alloc(NULL)) == NULL)
		return;
	format_time(when, sizeof(when));
	CODEC_GEN(yajl_gen_map_open(g));
	CODEC_GEN_STR(g, "time");
	CODEC_GEN_STR(g, when);
	CODEC_GEN_STR(g, "level");
	CODEC_GEN_STR(g, log_level_str(level));
	CODEC_GEN_STR(g, "msg");
	CODEC_GEN_STR(g, msg);
	for (i = 0; i < npairs; i++) {
		CODEC_GEN_STR(g, pairs[2 * i]);
		CODEC_GEN_STR(g, pairs[2 * i + 1] != NULL ? pairs[2 * i + 1] : "");
	}
	CODEC_GEN(yajl_gen_map_close(g));
	CODEC_GEN(yajl_gen_get_buf(g, &buf, &len));
	write_line(lg, (const char *)buf, len);
out:
	yajl_gen_free(g);
}

void
log_simple(const struct logger *lg, enum log_level level, const char *msg, const char *key,
    const char *value)
{
	const char *pair[2] = { key, value };

	log_strings(lg, level, msg, pair, key != NULL ? 1 : 0);
}
