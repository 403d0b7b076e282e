#!/usr/bin/python3
"""slow_clients.py - hold N connections to a webhook port, each trickling its request headers one
byte a second over TLS, reopening any the server closes, for SECONDS (bench.sh's (c) line).

usage: slow_clients.py PORT N SECONDS
Prints "slow clients: N held, R reopened" at the end. Bounded: it stops after SECONDS.
"""
import socket
import ssl
import sys
import time

port, n, secs = int(sys.argv[1]), int(sys.argv[2]), float(sys.argv[3])
ctx = ssl.create_default_context()
ctx.check_hostname = False
ctx.verify_mode = ssl.CERT_NONE
head = b"POST /mutate-metal3-io-v1alpha1-baremetalhost HTTP/1.1\r\n" + b"X-Slow: 1\r\n" * 10000


def opened():
    try:
        s = ctx.wrap_socket(socket.create_connection(("127.0.0.1", port), 5))
        s.settimeout(5)
        return [s, 0]
    except (OSError, ssl.SSLError):
        return None


socks = [opened() for _ in range(n)]
reopened = 0
end = time.time() + secs
while time.time() < end:
    for i, c in enumerate(socks):
        if c is not None:
            try:
                c[0].send(head[c[1]:c[1] + 1])
                c[1] += 1
                continue
            except (OSError, ssl.SSLError, ValueError):
                c[0].close()
        socks[i] = opened()
        reopened += 1
    time.sleep(1.0)
held = sum(1 for c in socks if c is not None)
for c in socks:
    if c is not None:
        c[0].close()
print("slow clients: %d held, %d reopened" % (held, reopened))
