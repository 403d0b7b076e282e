/* test_server_metrics.c - the server's metrics text, JSON log lines and listen-address parsing. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <json-c/json.h>

#include "check.h"
#include "listen.h"
#include "log.h"
#include "metrics.h"

/* The value of the sample line "name{labels} value", or -1 when absent. */
static double
sample(const char *text, const char *series)
{
	const char *p = text;
	size_t n = strlen(series);

	while ((p = strstr(p, series)) != NULL) {
		if ((p == text || p[-1] == '\n') && p[n] == ' ')
			return strtod(p + n + 1, NULL);
		p += n;
	}
	return -1;
}

static void
test_metrics(void)
{
	struct metrics *m = metrics_new();
	struct review_change ch[2] = {
		{ REVIEW_SPEC_URL, REVIEW_REWRITE, NULL, NULL },
		{ REVIEW_SPEC_CHECKSUM, REVIEW_WITHHOLD, NULL, NULL },
	};
	char *text;
	size_t len = 0;

	metrics_observe_review(m, REVIEW_PATCHED, ch, 1);
	metrics_observe_review(m, REVIEW_WITHHELD, ch + 1, 1);
	metrics_observe_review(m, REVIEW_REJECTED, NULL, 0);
	metrics_observe_http(m, 200, 0.0003);
	metrics_observe_http(m, 200, 0.002);
	metrics_observe_http(m, 413, 20.0);
	metrics_observe_http(m, 299, 0.00001);
	metrics_inflight_add(m, 3);
	metrics_inflight_add(m, -1);
	metrics_set_cert_expiry(m, 1798202705);
	metrics_cert_reload(m, 0);
	text = metrics_render(m, "1.2.3", &len);
	if (!CHECK(text != NULL && len == strlen(text), "metrics render"))
		return;
	CHECK(sample(text, "bmhguard_admission_requests_total{outcome=\"patched\"}") == 1, "patched counted");
	CHECK(sample(text, "bmhguard_admission_requests_total{outcome=\"withheld\"}") == 1, "withheld counted");
	CHECK(sample(text, "bmhguard_admission_requests_total{outcome=\"rejected\"}") == 1, "rejected counted");
	CHECK(sample(text, "bmhguard_admission_requests_total{outcome=\"unchanged\"}") == 0, "unchanged zero");
	CHECK(sample(text, "bmhguard_rewrites_total{field=\"spec_image_url\",action=\"rewrite\"}") == 1,
	    "rewrite by field");
	CHECK(sample(text, "bmhguard_rewrites_total{field=\"spec_image_checksum\",action=\"withhold\"}") == 1,
	    "withhold by field");
	CHECK(sample(text, "bmhguard_http_responses_total{code=\"200\"}") == 2, "200 responses");
	CHECK(sample(text, "bmhguard_http_responses_total{code=\"other\"}") == 1, "unknown code is other");
	CHECK(sample(text, "bmhguard_request_duration_seconds_bucket{le=\"0.0001\"}") == 1, "first bucket");
	CHECK(sample(text, "bmhguard_request_duration_seconds_bucket{le=\"0.0005\"}") == 2,
	    "buckets are cumulative");
	CHECK(sample(text, "bmhguard_request_duration_seconds_bucket{le=\"10\"}") == 3, "last finite bucket");
	CHECK(sample(text, "bmhguard_request_duration_seconds_bucket{le=\"+Inf\"}") == 4, "+Inf has all");
	CHECK(sample(text, "bmhguard_request_duration_seconds_count") == 4, "count");
	CHECK(sample(text, "bmhguard_request_duration_seconds_sum") > 20.0, "sum in seconds");
	CHECK(sample(text, "bmhguard_inflight_requests") == 2, "in-flight gauge");
	CHECK(sample(text, "bmhguard_tls_cert_not_after_timestamp_seconds") == 1798202705, "cert expiry");
	CHECK(sample(text, "bmhguard_tls_cert_reloads_total{result=\"failure\"}") == 1, "reload failure");
	CHECK(sample(text, "bmhguard_build_info{version=\"1.2.3\"}") == 1, "build info");
	CHECK(strstr(text, "# TYPE bmhguard_request_duration_seconds histogram\n") != NULL, "histogram TYPE line");
	CHECK(sample(text, "process_resident_memory_bytes") > 4096, "process RSS from /proc/self/stat");
	CHECK(sample(text, "process_cpu_seconds_total") >= 0, "process CPU seconds");
	CHECK(sample(text, "process_open_fds") >= 3, "process open fds (stdin, stdout, stderr at least)");
	CHECK(sample(text, "process_max_fds") >= sample(text, "process_open_fds"), "process max fds");
	CHECK(sample(text, "process_start_time_seconds") > 1.7e9 &&
	    sample(text, "process_start_time_seconds") <= (double)time(NULL) + 1, "process start time is Unix time");
	CHECK(strstr(text, "# TYPE process_cpu_seconds_total counter\n") != NULL, "process CPU TYPE counter");
	free(text);
	metrics_free(m);
}

static void
test_log(void)
{
	int fds[2];
	struct logger lg;
	char buf[4096];
	ssize_t n;
	json_object *o, *v;
	json_object *f;
	enum log_level lvl;

	CHECK(log_parse_level("warn", &lvl) == 0 && lvl == LOG_LEVEL_WARN, "parse warn");
	CHECK(log_parse_level("verbose", &lvl) < 0, "unknown level rejected");
	if (!CHECK(pipe(fds) == 0, "pipe"))
		return;
	lg.min = LOG_LEVEL_INFO;
	lg.fd = fds[1];
	log_simple(&lg, LOG_LEVEL_DEBUG, "hidden", NULL, NULL);
	f = json_object_new_object();
	json_object_object_add(f, "from", json_object_new_string("http://10.0.0.1/\"x\"\n"));
	log_write(&lg, LOG_LEVEL_WARN, "withheld", f);
	close(fds[1]);
	n = read(fds[0], buf, sizeof(buf) - 1);
	close(fds[0]);
	buf[n > 0 ? n : 0] = '\0';
	CHECK(n > 0 && buf[n - 1] == '\n' && strchr(buf, '\n') == buf + n - 1, "one line (debug filtered out)");
	o = json_tokener_parse(buf);
	CHECK(o != NULL, "line is JSON: %s", buf);
	CHECK(json_object_object_get_ex(o, "time", &v) && strlen(json_object_get_string(v)) == 24,
	    "RFC 3339 time with milliseconds");
	CHECK(json_object_object_get_ex(o, "level", &v) && strcmp(json_object_get_string(v), "warn") == 0, "level");
	CHECK(json_object_object_get_ex(o, "msg", &v) && strcmp(json_object_get_string(v), "withheld") == 0, "msg");
	CHECK(json_object_object_get_ex(o, "from", &v) &&
	    strcmp(json_object_get_string(v), "http://10.0.0.1/\"x\"\n") == 0, "field escaped and intact");
	json_object_put(o);
}

static void
test_listen(void)
{
	char err[256];
	int fd = -1;
	unsigned port = 0;

	CHECK(listen_open("127.0.0.1:0", &fd, &port, err, sizeof(err)) == 0 && port > 0, "ephemeral port");
	if (fd >= 0)
		close(fd);
	CHECK(listen_open("nowhere", &fd, &port, err, sizeof(err)) < 0 && strstr(err, "ADDR:PORT"),
	    "no port: %s", err);
	CHECK(listen_open("127.0.0.1:", &fd, &port, err, sizeof(err)) < 0, "empty port");
	CHECK(listen_open("127.0.0.1:http-alt", &fd, &port, err, sizeof(err)) < 0, "port must be numeric");
	CHECK(listen_open("[::1]:0", &fd, &port, err, sizeof(err)) == 0 || strstr(err, "[::1]") != NULL,
	    "bracketed IPv6");
	if (fd >= 0)
		close(fd);
}

int
main(void)
{
	test_metrics();
	test_log();
	test_listen();
	return CHECK_DONE();
}
