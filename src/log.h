/* log.h - structured logs: one JSON object per line on stderr (time, level, msg, fields). */
#ifndef BMHGUARD_LOG_H
#define BMHGUARD_LOG_H

#include <stddef.h>
#include <json-c/json.h>

/* LOG_LEVEL_*, not LOG_*: <syslog.h> takes LOG_DEBUG, LOG_INFO and LOG_WARNING. */
enum log_level {
	LOG_LEVEL_DEBUG = 0,
	LOG_LEVEL_INFO,
	LOG_LEVEL_WARN,
	LOG_LEVEL_ERROR
};

/* The logger is configured once at start and only read afterwards, so workers share it freely. */
struct logger {
	enum log_level min;
	int fd;			/* where lines go; stderr's descriptor by default */
};

/* "debug", "info", "warn" or "error" -> *level. Returns 0, or -1 for anything else. */
int log_parse_level(const char *s, enum log_level *level);
const char *log_level_str(enum log_level level);	/* static string */

/* Whether a line at this level would be written (callers skip building fields otherwise). */
int log_enabled(const struct logger *lg, enum log_level level);

/* Write one line: {"time":...,"level":...,"msg":msg, ...fields}. fields is taken over (may be
 * NULL) and released here; its keys (none of time, level, msg) come after those three in their
 * insertion order. One write(2) per line, so lines from concurrent threads never interleave. */
void log_write(const struct logger *lg, enum log_level level, const char *msg, json_object *fields);

/* A line whose fields are all strings: pairs holds npairs key/value pairs (2 * npairs strings,
 * values may be NULL for ""); keys distinct, and none of time, level, msg. Written straight out
 * (codec_add_string), no json-c objects: the webhook writes one for every rewrite. */
void log_strings(const struct logger *lg, enum log_level level, const char *msg,
    const char *const *pairs, size_t npairs);

/* Convenience: a line with one string field ("error", ...), or none when key is NULL. */
void log_simple(const struct logger *lg, enum log_level level, const char *msg, const char *key,
    const char *value);

#endif
