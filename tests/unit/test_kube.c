/* test_kube.c - the API client's response cap in src/kube.c, against a loopback HTTP server. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <unistd.h>

#include "check.h"
#include "kube.h"

#define CAP 1024

/* One connection at a time: read the request line, answer by path, close. */
static void *
serve(void *arg)
{
	int ls = *(int *)arg, fd;
	char req[4096], body[4 * CAP], head[256];
	ssize_t n;

	memset(body, 'x', sizeof(body));
	while ((fd = accept(ls, NULL, NULL)) >= 0) {
		size_t blen = 0;
		int chunked = 0;

		n = read(fd, req, sizeof(req) - 1);
		req[n > 0 ? n : 0] = '\0';
		if (strstr(req, "GET /stop ") != NULL) {
			close(fd);
			break;
		}
		if (strstr(req, "GET /fits ") != NULL)
			blen = CAP;
		else if (strstr(req, "GET /over-length ") != NULL)
			blen = CAP + 1;
		else if (strstr(req, "GET /over-chunked ") != NULL)
			blen = sizeof(body), chunked = 1;
		if (chunked) {
			snprintf(head, sizeof(head), "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
			    "Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n%zx\r\n", blen);
			(void)!write(fd, head, strlen(head));
			(void)!write(fd, body, blen);
			(void)!write(fd, "\r\n0\r\n\r\n", 7);
		} else {
			snprintf(head, sizeof(head), "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
			    "Content-Length: %zu\r\nConnection: close\r\n\r\n", blen);
			(void)!write(fd, head, strlen(head));
			(void)!write(fd, body, blen);
		}
		close(fd);
	}
	return NULL;
}

int
main(void)
{
	struct sockaddr_in sa;
	socklen_t slen = sizeof(sa);
	struct kubeconfig cfg;
	struct kube_client_opts o;
	struct kube_client *k;
	struct kube_conn *c;
	pthread_t th;
	char server[64], err[512], *resp = NULL;
	long status;
	enum kube_rc rc;
	int ls;

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
	o.max_response = CAP;
	k = kube_client_new(&cfg, &o, err, sizeof(err));
	c = k != NULL ? kube_conn_new(k, err, sizeof(err)) : NULL;
	if (!CHECK(c != NULL, "client: %s", c ? "" : err))
		return CHECK_DONE();

	rc = kube_request(c, "GET", "/fits", NULL, NULL, &resp, &status, err, sizeof(err));
	CHECK(rc == KUBE_OK && resp != NULL && strlen(resp) == CAP,
	    "a response of exactly the cap is taken whole (%zu bytes)", resp ? strlen(resp) : 0);
	free(resp);
	resp = NULL;

	rc = kube_request(c, "GET", "/over-length", NULL, NULL, &resp, &status, err, sizeof(err));
	CHECK(rc == KUBE_API_ERROR && resp == NULL && strstr(err, "response larger than 1024 bytes"),
	    "a byte over the cap, announced by Content-Length: refused: %s", err);

	rc = kube_request(c, "GET", "/over-chunked", NULL, NULL, &resp, &status, err, sizeof(err));
	CHECK(rc == KUBE_API_ERROR && resp == NULL && strstr(err, "response larger than 1024 bytes"),
	    "a chunked body over the cap: refused while reading: %s", err);
	CHECK(kube_client_requests(k) == 3, "no retries of a response over the cap: %lu requests",
	    kube_client_requests(k));

	rc = kube_request(c, "GET", "/fits", NULL, NULL, &resp, &status, err, sizeof(err));
	CHECK(rc == KUBE_OK && resp != NULL && strlen(resp) == CAP,
	    "the connection works again after a refused response");
	free(resp);

	kube_request(c, "GET", "/stop", NULL, NULL, NULL, NULL, err, sizeof(err));
	pthread_join(th, NULL);
	close(ls);
	kube_conn_free(c);
	kube_client_free(k);
	return CHECK_DONE();
}
