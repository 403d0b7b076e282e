/* log.c - structured logs: one JSON object per line on stderr (time, level, msg, fields). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "codec.h"
#include "io.h"
#include "log.h"

/* What every line holds besides its message and fields: the keys, the time and the level. */
#define LINE_FIXED 256

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

/* {"time":...,"level":...,"msg":... : the start every line shares. */
static void
line_begin(struct buf *line, enum log_level level, const char *msg)
{
	char when[48];

	format_time(when, sizeof(when));
	buf_addstr(line, "{\"time\":");
	codec_add_string(line, when);
	buf_addstr(line, ",\"level\":");
	codec_add_string(line, log_level_str(level));
	buf_addstr(line, ",\"msg\":");
	codec_add_string(line, msg);
}

static void
line_field(struct buf *line, const char *key)
{
	buf_addstr(line, ",");
	codec_add_string(line, key);
	buf_addstr(line, ":");
}

/* The most a field adds, escaped as it may be: caps are sized so that escaping never passes them,
 * and a line is never cut. */
static size_t
field_max(const char *key, size_t value_max)
{
	return 2 + codec_string_max(key) + value_max;
}

/* Close the line and write it with its newline in one write(2), so that concurrent lines never
 * interleave. */
static void
line_end(const struct logger *lg, struct buf *line)
{
	buf_addstr(line, "}\n");
	/* a log line is not worth failing over: a line that cannot be written is dropped */
	if (line->rc == BUF_OK)
		(void)io_write_all(lg->fd, line->data, line->len);
	buf_free(line);
}

void
log_write(const struct logger *lg, enum log_level level, const char *msg, json_object *fields)
{
	struct buf line;
	size_t max;
	const char *text;

	if (!log_enabled(lg, level))
		goto out;
	max = LINE_FIXED + codec_string_max(msg);
	if (fields != NULL) {
		json_object_object_foreach(fields, key, val) {
			text = json_object_to_json_string_ext(val,
			    JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE);
			if (text == NULL)
				goto out;	/* out of memory: no half line */
			max += field_max(key, strlen(text));
		}
	}
	buf_init(&line, max);
	line_begin(&line, level, msg);
	if (fields != NULL) {
		json_object_object_foreach(fields, key, val) {
			text = json_object_to_json_string_ext(val,
			    JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE);
			if (text == NULL) {
				buf_free(&line);
				goto out;
			}
			line_field(&line, key);
			buf_addstr(&line, text);
		}
	}
	line_end(lg, &line);
out:
	json_object_put(fields);
}

void
log_strings(const struct logger *lg, enum log_level level, const char *msg,
    const char *const *pairs, size_t npairs)
{
	struct buf line;
	size_t i, max;

	if (!log_enabled(lg, level))
		return;
	max = LINE_FIXED + codec_string_max(msg);
	for (i = 0; i < npairs; i++)
		max += field_max(pairs[2 * i], pairs[2 * i + 1] != NULL ?
		    codec_string_max(pairs[2 * i + 1]) : 2);
	buf_init(&line, max);
	line_begin(&line, level, msg);
	for (i = 0; i < npairs; i++) {
		line_field(&line, pairs[2 * i]);
		codec_add_string(&line, pairs[2 * i + 1] != NULL ? pairs[2 * i + 1] : "");
	}
	line_end(lg, &line);
}

void
log_simple(const struct logger *lg, enum log_level level, const char *msg, const char *key,
    const char *value)
{
	const char *pair[2] = { key, value };

	log_strings(lg, level, msg, pair, key != NULL ? 1 : 0);
}
