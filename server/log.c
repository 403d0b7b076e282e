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

/* line[key] = v, taking v over (NULL: its allocation failed). Returns 0, or -1 with v released. */
static int
add(json_object *line, const char *key, json_object *v)
{
	if (v == NULL || json_object_object_add(line, key, v) != 0) {
		json_object_put(v);
		return -1;
	}
	return 0;
}

/* A new line holding time, level and msg, or NULL. Caller puts it. */
static json_object *
line_new(enum log_level level, const char *msg)
{
	char when[48];
	json_object *line = json_object_new_object();	/* owned */

	format_time(when, sizeof(when));
	if (line == NULL ||
	    add(line, "time", json_object_new_string(when)) != 0 ||
	    add(line, "level", json_object_new_string(log_level_str(level))) != 0 ||
	    add(line, "msg", json_object_new_string(msg)) != 0) {
		json_object_put(line);
		return NULL;
	}
	return line;
}

/* line's text ('/' left alone) plus a newline in one write(2), so that concurrent lines never
 * interleave. */
static void
write_line(const struct logger *lg, json_object *line)
{
	char stack[1024], *buf;
	const char *text;
	size_t n;

	text = json_object_to_json_string_length(line, JSON_C_TO_STRING_PLAIN |
	    JSON_C_TO_STRING_NOSLASHESCAPE, &n);
	if (text == NULL || (buf = n + 1 <= sizeof(stack) ? stack : malloc(n + 1)) == NULL)
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
	json_object *line = NULL;	/* owned */

	if (!log_enabled(lg, level) || (line = line_new(level, msg)) == NULL)
		goto out;
	if (fields != NULL) {
		json_object_object_foreach(fields, key, val)
			if (add(line, key, json_object_get(val)) != 0)
				goto out;
	}
	write_line(lg, line);
out:
	json_object_put(line);
	json_object_put(fields);
}

void
log_strings(const struct logger *lg, enum log_level level, const char *msg,
    const char *const *pairs, size_t npairs)
{
	struct codec_buf line = CODEC_BUF_INIT;
	char when[48], *text;
	size_t i, len;

	if (!log_enabled(lg, level))
		return;
	format_time(when, sizeof(when));
	codec_buf_raw(&line, "{\"time\":");
	codec_buf_string(&line, when);
	codec_buf_raw(&line, ",\"level\":");
	codec_buf_string(&line, log_level_str(level));
	codec_buf_raw(&line, ",\"msg\":");
	codec_buf_string(&line, msg);
	for (i = 0; i < npairs; i++) {
		codec_buf_raw(&line, ",");
		codec_buf_string(&line, pairs[2 * i]);
		codec_buf_raw(&line, ":");
		codec_buf_string(&line, pairs[2 * i + 1] != NULL ? pairs[2 * i + 1] : "");
	}
	codec_buf_raw(&line, "}\n");
	if ((text = codec_buf_take(&line, &len)) != NULL)
		write_all(lg->fd, text, len);
	free(text);
}

void
log_simple(const struct logger *lg, enum log_level level, const char *msg, const char *key,
    const char *value)
{
	const char *pair[2] = { key, value };

	log_strings(lg, level, msg, pair, key != NULL ? 1 : 0);
}
