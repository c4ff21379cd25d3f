"""Opens N live activity streams (GET /v1/activity/stream) over TLS and never reads them.

The server must drop each of them once its per-client buffer is full, without slowing anything
else down. Prints how many the server closed, after `seconds`.

    python3 bench/stalled_streams.py URL CA_FILE API_KEY N SECONDS
"""
import socket
import ssl
import sys
import time
from urllib.parse import urlparse

url, ca, key, count, seconds = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4]), float(sys.argv[5])
target = urlparse(url)
context = ssl.create_default_context(cafile=ca)
streams = []
for _ in range(count):
    raw = socket.create_connection((target.hostname, target.port))
    # A small receive window, so the server's writes stall soon.
    raw.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    tls = context.wrap_socket(raw, server_hostname=target.hostname)
    tls.sendall(
        f"GET /v1/activity/stream HTTP/1.1\r\nHost: {target.hostname}\r\n"
        f"Authorization: Bearer {key}\r\nAccept: text/event-stream\r\n\r\n".encode()
    )
    streams.append(tls)
time.sleep(seconds)
closed = 0
for tls in streams:
    tls.setblocking(False)
    try:
        # Drain what is buffered; a closed stream ends in EOF.
        while True:
            data = tls.recv(65536)
            if not data:
                closed += 1
                break
    except (ssl.SSLWantReadError, BlockingIOError):
        pass
    except (ConnectionError, ssl.SSLError):
        closed += 1
print(closed)
