"""Creates COUNT envelope keyrings named PREFIX0 .. PREFIX<COUNT-1> in GROUP through the API,
over THREADS keep-alive HTTPS connections; prints "CREATED <count> <per second> <errors>".

    python3 bench/create_keyrings.py URL CA_FILE API_KEY GROUP PREFIX COUNT THREADS
"""

import http.client
import json
import ssl
import sys
import threading
import time
from urllib.parse import urlparse


def main(url, ca, key, group, prefix, count, threads):
    target = urlparse(url)
    context = ssl.create_default_context(cafile=ca)
    headers = {"Authorization": f"Bearer {key}", "Content-Type": "application/json"}
    errors = []

    def create(first):
        connection = http.client.HTTPSConnection(target.hostname, target.port, context=context)
        for i in range(first, count, threads):
            body = json.dumps({"name": f"{prefix}{i}", "group": group, "protection": "envelope"})
            connection.request("POST", "/v1/keyrings", body, headers)
            answer = connection.getresponse()
            answered = answer.read()
            if answer.status != 201:
                errors.append((answer.status, answered[:200]))

    started = time.monotonic()
    workers = [threading.Thread(target=create, args=(t,)) for t in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    took = time.monotonic() - started
    for status, body in errors[:5]:
        print(f"refused: {status} {body.decode(errors='replace')}", file=sys.stderr)
    print(f"CREATED {count - len(errors)} {count / took:.0f} {len(errors)}")


if __name__ == "__main__":
    url, ca, key, group, prefix, count, threads = sys.argv[1:8]
    main(url, ca, key, group, prefix, int(count), int(threads))
