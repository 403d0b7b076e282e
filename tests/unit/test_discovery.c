/* test_discovery.c - which versions serve which kinds (src/discovery.c), against a loopback HTTP server. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <unistd.h>

#include "check.h"
#include "discovery.h"

/* One connection at a time: answer by path, count the discovery GETs, close. */
static int asked[8];
static const char *const paths[] = {
	"/apis/infrastructure.cluster.x-k8s.io/v1beta2", "/apis/infrastructure.cluster.x-k8s.io/v1beta1",
	"/apis/metal3.io/v1alpha1", "/apis/broken.example/v1",
};

static void *
serve(void *arg)
{
	int ls = *(int *)arg, fd;
	char req[4096], head[256];
	const char *body;
	ssize_t n;
	size_t i;

	while ((fd = accept(ls, NULL, NULL)) >= 0) {
		int code = 404;

		n = read(fd, req, sizeof(req) - 1);
		req[n > 0 ? n : 0] = '\0';
		if (strstr(req, "GET /stop ") != NULL) {
			close(fd);
			break;
		}
		for (i = 0; i < sizeof(paths) / sizeof(paths[0]); i++)
			if (strncmp(req + 4, paths[i], strlen(paths[i])) == 0 &&
			    req[4 + strlen(paths[i])] == ' ')
				asked[i]++;
		body = "{\"kind\":\"Status\",\"code\":404}";
		if (strstr(req, "GET /apis/infrastructure.cluster.x-k8s.io/v1beta1 ") != NULL) {
			/* machines served, templates not; a resource list as the API server writes it */
			body = "{\"kind\":\"APIResourceList\",\"resources\":[{\"name\":\"metal3machines\"},"
			    "{\"name\":\"metal3machines/status\"},{\"name\":\"metal3clusters\"}]}";
			code = 200;
		} else if (strstr(req, "GET /apis/metal3.io/v1alpha1 ") != NULL) {
			body = "{\"kind\":\"APIResourceList\",\"resources\":[{\"name\":\"baremetalhosts\"},"
			    "{\"name\":\"dataimages\"},{\"name\":\"hostfirmwarecomponents/status\"}]}";
			code = 200;
		} else if (strstr(req, "GET /apis/broken.example/v1 ") != NULL) {
			body = "{\"kind\":\"Status\",\"code\":500}";
			code = 500;
		}
		snprintf(head, sizeof(head), "HTTP/1.1 %d X\r\nContent-Type: application/json\r\n"
		    "Content-Length: %zu\r\nConnection: close\r\n\r\n", code, strlen(body));
		(void)!write(fd, head, strlen(head));
		(void)!write(fd, body, strlen(body));
		close(fd);
	}
	return NULL;
}

static const char *
version_of(struct discovery *dc, struct kube_conn *c, const char *kind, int *rc)
{
	const char *v = "unset";
	char err[512];

	*rc = discovery_version(dc, c, kinds_by_name(kind), &v, err, sizeof(err));
	return v;
}

int
main(void)
{
	static const struct kinds_row broken = { .group = "broken.example", .kind = "Broken",
		.plural = "brokens", .versions = { "v1" } };
	struct sockaddr_in sa;
	socklen_t slen = sizeof(sa);
	struct kubeconfig cfg;
	struct kube_client_opts o;
	struct kube_client *k;
	struct kube_conn *c;
	struct discovery *dc;
	pthread_t th;
	char server[64], err[512];
	const char *v;
	int ls, rc;

	memset(&sa, 0, sizeof(sa));
	sa.sin_family = AF_INET;
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	ls = socket(AF_INET, SOCK_STREAM, 0);
	if (!CHECK(ls >= 0 && bind(ls, (struct sockaddr *)&sa, sizeof(sa)) == 0 &&
	    listen(ls, 8) == 0 && getsockname(ls, (struct sockaddr *)&sa, &slen) == 0,
	    "loopback listener"))
		return CHECK_DONE();
	pthread_create(&th, NULL, serve, &ls);
	memset(&cfg, 0, sizeof(cfg));
	snprintf(server, sizeof(server), "http://127.0.0.1:%u", ntohs(sa.sin_port));
	cfg.server = server;
	memset(&o, 0, sizeof(o));
	o.max_attempts = 1;
	o.timeout_ms = 5000;
	o.max_response = 1 << 20;
	k = kube_client_new(&cfg, &o, err, sizeof(err));
	c = k != NULL ? kube_conn_new(k, err, sizeof(err)) : NULL;
	dc = discovery_new();
	if (!CHECK(c != NULL && dc != NULL, "client: %s", c ? "" : err))
		return CHECK_DONE();

	v = version_of(dc, c, "Metal3Machine", &rc);
	CHECK(rc == 0 && v != NULL && strcmp(v, "v1beta1") == 0,
	    "v1beta2 not served (404), v1beta1 lists metal3machines: v1beta1 (%s)", v ? v : "NULL");
	v = version_of(dc, c, "Metal3MachineTemplate", &rc);
	CHECK(rc == 0 && v == NULL, "listed by neither version: not served");
	v = version_of(dc, c, "BareMetalHost", &rc);
	CHECK(rc == 0 && v != NULL && strcmp(v, "v1alpha1") == 0, "hosts: v1alpha1");
	v = version_of(dc, c, "DataImage", &rc);
	CHECK(rc == 0 && v != NULL && strcmp(v, "v1alpha1") == 0, "data images: v1alpha1");
	v = version_of(dc, c, "HostFirmwareComponents", &rc);
	CHECK(rc == 0 && v == NULL, "only its /status listed: not served");
	CHECK(asked[0] == 1 && asked[1] == 1 && asked[2] == 1 && discovery_calls(dc) == 3,
	    "each group version asked once, whatever the kinds asking (%d %d %d, %lu calls)",
	    asked[0], asked[1], asked[2], discovery_calls(dc));

	v = "unset";
	rc = discovery_version(dc, c, &broken, &v, err, sizeof(err));
	CHECK(rc == -1 && v == NULL && strstr(err, "finding what broken.example/v1 serves") != NULL,
	    "a 500 is an error, not 'not served': %s", err);

	kube_request(c, "GET", "/stop", NULL, NULL, NULL, NULL, err, sizeof(err));
	pthread_join(th, NULL);
	close(ls);
	discovery_free(dc);
	kube_conn_free(c);
	kube_client_free(k);
	return CHECK_DONE();
}
