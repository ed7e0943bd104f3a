#!/usr/bin/env python3
"""Hostile clients for a benchmark run: a pipeliner that never reads its
replies, connections that send half a request line and stall, and a body
trickled a byte at a time. Runs until killed; prints what it holds.

    bench/hostile.py PORT [SLOW_CONNECTIONS]   (default 500)

Start it beside a load test (bench/enqueue.sh) to see that the server's
rate and p99 hold while it is attacked."""
import socket
import sys
import threading
import time

port = int(sys.argv[1])
slow = int(sys.argv[2]) if len(sys.argv) > 2 else 500


def connect():
    s = socket.create_connection(("127.0.0.1", port))
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return s


def pipeliner():
    # Sends requests and never reads: TCP must push back, not the server's
    # memory grow.
    while True:
        try:
            s = connect()
            s.settimeout(1)
            request = b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n" * 64
            while True:
                s.sendall(request)
        except OSError:
            time.sleep(0.1)


def stall():
    # Half a request line, then nothing: the header timeout ends them.
    held = []
    while True:
        held = [c for c in held if c.fileno() != -1]
        while len(held) < slow:
            try:
                c = connect()
                c.sendall(b"POST /enqueue HTT")
                held.append(c)
            except OSError:
                break
        time.sleep(1)
        for c in list(held):
            try:
                c.setblocking(False)
                if c.recv(4096) == b"":
                    c.close()
            except BlockingIOError:
                pass
            except OSError:
                c.close()


def trickle():
    # A body one byte a second: the request timeout ends it.
    while True:
        try:
            s = connect()
            s.sendall(b"POST /enqueue HTTP/1.1\r\nHost: x\r\n"
                      b"Content-Type: application/json\r\n"
                      b"Content-Length: 1000\r\n\r\n")
            while True:
                s.sendall(b" ")
                time.sleep(1)
        except OSError:
            time.sleep(0.1)


for f in (pipeliner, stall, trickle):
    threading.Thread(target=f, daemon=True).start()
print(f"hostile clients on port {port}: 1 pipeliner, {slow} stalled, "
      "1 trickler", flush=True)
while True:
    time.sleep(60)
