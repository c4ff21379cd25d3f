"""Enrolls a benchmark machine and pre-signs COUNT requests (distinct nonces) for wrk.

    signed_requests.py URL CA TOKEN TARGET BODY_FILE COUNT OUT_FILE [METHOD=POST]

Each output line is `machine_id timestamp nonce signature`; bench/run.sh replays each line once.
"""
import base64, hashlib, json, secrets, ssl, sys, time, urllib.request
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

url, ca, token, target, body_file, count, out = sys.argv[1:8]
method = sys.argv[8] if len(sys.argv) > 8 else "POST"
key = Ed25519PrivateKey.generate()
public = key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
request = urllib.request.Request(
    url + "/v1/machines/register", method="POST",
    data=json.dumps({"token": token, "public_key": base64.b64encode(public).decode()}).encode(),
    headers={"Content-Type": "application/json"})
with urllib.request.urlopen(request, context=ssl.create_default_context(cafile=ca)) as reply:
    machine = json.load(reply)["id"]
body_hash = hashlib.sha256(open(body_file, "rb").read()).hexdigest()
timestamp = str(int(time.time()))
with open(out, "w") as f:
    for _ in range(int(count)):
        nonce = secrets.token_hex(12)
        message = f"{method}:{target}:{timestamp}:{nonce}:{body_hash}".encode()
        f.write(f"{machine} {timestamp} {nonce} {base64.b64encode(key.sign(message)).decode()}\n")
