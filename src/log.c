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

/* {"time":...,"level":...,"msg":... : the start every line shares. */
static void
line_begin(struct codec_buf *line, enum log_level level, const char *msg)
{
	char when[48];

	format_time(when, sizeof(when));
	codec_buf_raw(line, "{\"time\":");
	codec_buf_string(line, when);
	codec_buf_raw(line, ",\"level\":");
	codec_buf_string(line, log_level_str(level));
	codec_buf_raw(line, ",\"msg\":");
	codec_buf_string(line, msg);
}

static void
line_field(struct codec_buf *line, const char *key)
{
	codec_buf_raw(line, ",");
	codec_buf_string(line, key);
	codec_buf_raw(line, ":");
}

/* Close the line and write it with its newline in one write(2), so that concurrent lines never
 * interleave. */
static void
line_end(const struct logger *lg, struct codec_buf *line)
{
	char *text;
	size_t len;

	codec_buf_raw(line, "}\n");
	if ((text = codec_buf_take(line, &len)) != NULL)
		write_all(lg->fd, text, len);
	free(text);
}

void
log_write(const struct logger *lg, enum log_level level, const char *msg, json_object *fields)
{
	struct codec_buf line = CODEC_BUF_INIT;

	if (!log_enabled(lg, level))
		goto out;
	line_begin(&line, level, msg);
	if (fields != NULL) {
		json_object_object_foreach(fields, key, val) {
			const char *text = json_object_to_json_string_ext(val,
			    JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE);

			if (text == NULL) {
				line.failed = 1;	/* out of memory: no half line */
				break;
			}
			line_field(&line, key);
			codec_buf_raw(&line, text);
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
	struct codec_buf line = CODEC_BUF_INIT;
	size_t i;

	if (!log_enabled(lg, level))
		return;
	line_begin(&line, level, msg);
	for (i = 0; i < npairs; i++) {
		line_field(&line, pairs[2 * i]);
		codec_buf_string(&line, pairs[2 * i + 1] != NULL ? pairs[2 * i + 1] : "");
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
