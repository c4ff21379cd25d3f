"""Enroll a machine with an enrollment token, then sign a request (Ed25519, Coffer's format).

Needs COFFER_URL, COFFER_CA_CERT and COFFER_MACHINE_TOKEN; `pip install cryptography`.
"""
import base64, hashlib, json, os, secrets, ssl, time, urllib.request
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

URL = os.environ["COFFER_URL"]
TLS = ssl.create_default_context(cafile=os.environ["COFFER_CA_CERT"])


def send(method, path, body, headers):
    request = urllib.request.Request(URL + path, data=body, method=method, headers=headers)
    with urllib.request.urlopen(request, context=TLS) as response:
        return json.load(response)


def signed(key, machine_id, method, path, payload):
    body = json.dumps(payload).encode()  # sign exactly the bytes that are sent
    timestamp = str(int(time.time()))
    nonce = secrets.token_urlsafe(24)  # 16-64 chars of [A-Za-z0-9_-], never reused
    message = ":".join([method, path, timestamp, nonce, hashlib.sha256(body).hexdigest()])
    return send(method, path, body, {
        "Content-Type": "application/json",
        "X-Machine-Id": machine_id,
        "X-Timestamp": timestamp,
        "X-Nonce": nonce,
        "X-Signature": base64.b64encode(key.sign(message.encode())).decode(),
    })


key = Ed25519PrivateKey.generate()  # the private key never leaves this machine
public = key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
machine = send("POST", "/v1/machines/register", json.dumps({
    "token": os.environ["COFFER_MACHINE_TOKEN"],
    "public_key": base64.b64encode(public).decode(),
}).encode(), {"Content-Type": "application/json"})
sealed = signed(key, machine["id"], "POST", "/v1/keyrings/ring/encrypt",
                {"plaintext": base64.b64encode(b"hello from python").decode()})
print(json.dumps(sealed))
