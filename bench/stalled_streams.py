"""Opens N live activity streams (GET /v1/activity/stream) over TLS and never reads them.

The server must drop each of them once its per-client queue stays full, without slowing anything
else down. Prints how many the server dropped (their stream ends in `event: overflow`).

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
# A dropped stream ends with an `overflow` event; read what the server queued for each (its
# socket buffers) and look for it.
dropped = 0
for tls in streams:
    tls.settimeout(5)
    seen = b""
    try:
        while b"event: overflow" not in seen:
            data = tls.recv(1 << 20)
            if not data:
                break
            seen = seen[-64:] + data
    except (TimeoutError, socket.timeout, ConnectionError, ssl.SSLError):
        pass
    if b"event: overflow" in seen:
        dropped += 1
print(dropped)
