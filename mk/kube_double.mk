# kube_double.mk - the Kubernetes API test double (tests/kube_double.py, tests/KUBE_DOUBLE.md).
#
#   make test-kube-double   run the double's own test (tests/integration/test_kube_double.py)
#   make kube-double        start a double on 127.0.0.1 with KUBE_DOUBLE_HOSTS generated hosts
#                           (default 100; prints "listening PORT"; Ctrl-C stops it)

KUBE_DOUBLE_HOSTS ?= 100

.PHONY: test-kube-double kube-double

test-kube-double:
	@BMHGUARD_TOP=$(CURDIR) /usr/bin/python3 tests/integration/test_kube_double.py

kube-double:
	@/usr/bin/python3 tests/kube_double.py --gen $(KUBE_DOUBLE_HOSTS)
