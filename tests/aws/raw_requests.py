"""Bad requests on the wire: signed by hand (hmac, checked against botocore's own SigV4Auth)
so the date, the secret and the bytes can be wrong on purpose. Each must get the AWS error
type with a status below 500, and a refused mutation must change nothing.

Environment: the AWS_* settings (see common.py).
"""
import datetime
import hashlib
import hmac
import json
import secrets
from urllib.parse import urlparse

import urllib3
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

from common import endpoint, env, kms, region, run, step

CONTENT_TYPE = "application/x-amz-json-1.1"
SIGNED = "content-type;host;x-amz-date;x-amz-target"


def amz_now(offset_seconds=0):
    when = datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(seconds=offset_seconds)
    return when.strftime("%Y%m%dT%H%M%SZ")


def sigv4_headers(operation, body, access_key, secret, amz_date, host=None):
    """The SigV4 headers of `POST /` with exactly `body`, computed by hand."""
    host = host or urlparse(endpoint()).netloc
    target = f"TrentService.{operation}"
    canonical = "\n".join([
        "POST", "/", "",
        f"content-type:{CONTENT_TYPE}", f"host:{host}", f"x-amz-date:{amz_date}",
        f"x-amz-target:{target}", "", SIGNED, hashlib.sha256(body).hexdigest(),
    ])
    scope = f"{amz_date[:8]}/{region()}/kms/aws4_request"
    to_sign = "\n".join(["AWS4-HMAC-SHA256", amz_date, scope,
                         hashlib.sha256(canonical.encode()).hexdigest()])
    key = f"AWS4{secret}".encode()
    for part in (amz_date[:8], region(), "kms", "aws4_request"):
        key = hmac.new(key, part.encode(), hashlib.sha256).digest()
    signature = hmac.new(key, to_sign.encode(), hashlib.sha256).hexdigest()
    return {
        "Content-Type": CONTENT_TYPE, "Host": host, "X-Amz-Date": amz_date,
        "X-Amz-Target": target,
        "Authorization": f"AWS4-HMAC-SHA256 Credential={access_key}/{scope}, "
                         f"SignedHeaders={SIGNED}, Signature={signature}",
    }


def botocore_headers(operation, body):
    """The same request signed by botocore, to prove the hand signer right."""
    request = AWSRequest(method="POST", url=endpoint() + "/", data=body, headers={
        "Content-Type": CONTENT_TYPE, "X-Amz-Target": f"TrentService.{operation}"})
    creds = Credentials(env("AWS_ACCESS_KEY_ID"), env("AWS_SECRET_ACCESS_KEY"))
    SigV4Auth(creds, "kms", region()).add_auth(request)
    return dict(request.headers.items())


class Wire:
    def __init__(self):
        self.http = urllib3.PoolManager(ca_certs=env("AWS_CA_BUNDLE"), cert_reqs="CERT_REQUIRED",
                                        retries=False)

    def send(self, headers, body):
        reply = self.http.request("POST", endpoint() + "/", body=body, headers=headers)
        try:
            decoded = json.loads(reply.data or b"{}")
        except ValueError:
            decoded = {"raw": reply.data[:200].decode("utf-8", "replace")}
        return reply.status, decoded, reply.headers

    def signed(self, operation, payload, secret=None, offset=0, access_key=None):
        body = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
        headers = sigv4_headers(operation, body, access_key or env("AWS_ACCESS_KEY_ID"),
                                secret or env("AWS_SECRET_ACCESS_KEY"), amz_now(offset))
        return self.send(headers, body)


def error_code(decoded, headers):
    kind = decoded.get("__type") or headers.get("x-amzn-ErrorType", "")
    return kind.split("#")[-1].split(":")[0]


def expect(reply, *codes):
    status, decoded, headers = reply
    got = error_code(decoded, headers)
    assert got in codes, f"expected {' or '.join(codes)}, got HTTP {status} {decoded}"
    assert 400 <= status < 500, f"{got} came with HTTP {status}"
    return got


def expect_ok(reply):
    status, decoded, _ = reply
    assert status == 200, f"expected 200, got {status} {decoded}"
    return decoded


def signer_agrees(wire):
    step("the hand signer agrees with botocore's SigV4Auth")
    body = b"{}"
    theirs = botocore_headers("ListKeys", body)
    ours = sigv4_headers("ListKeys", body, env("AWS_ACCESS_KEY_ID"),
                         env("AWS_SECRET_ACCESS_KEY"), theirs["X-Amz-Date"])
    their_sig = theirs["Authorization"].rsplit("Signature=", 1)[1]
    our_sig = ours["Authorization"].rsplit("Signature=", 1)[1]
    assert their_sig == our_sig, "hand-made and botocore signatures differ"
    expect_ok(wire.send(theirs, body))
    expect_ok(wire.send(ours, body))


def authentication(wire, key):
    alias = f"alias/raw-{secrets.token_hex(4)}"
    create = {"AliasName": alias, "TargetKeyId": key}
    body = json.dumps(create).encode()
    step("unsigned")
    unsigned = {"Content-Type": CONTENT_TYPE, "X-Amz-Target": "TrentService.CreateAlias",
                "X-Amz-Date": amz_now()}
    code = expect(wire.send(unsigned, body), "MissingAuthenticationTokenException",
                  "InvalidSignatureException", "UnrecognizedClientException")
    print(f"unsigned request answered {code}")
    step("wrong secret")
    expect(wire.signed("CreateAlias", create, secret="w" * 40), "InvalidSignatureException")
    step("body changed after signing")
    headers = sigv4_headers("CreateAlias", body, env("AWS_ACCESS_KEY_ID"),
                            env("AWS_SECRET_ACCESS_KEY"), amz_now())
    tampered = json.dumps({"AliasName": alias + "x", "TargetKeyId": key}).encode()
    expect(wire.send(headers, tampered), "InvalidSignatureException")
    step("X-Amz-Date 10 minutes old, and 10 minutes ahead")
    expect(wire.signed("CreateAlias", create, offset=-600), "InvalidSignatureException")
    expect(wire.signed("CreateAlias", create, offset=600), "InvalidSignatureException")
    step("unknown access key id")
    expect(wire.signed("CreateAlias", create, access_key="AKIANOSUCHKEY0000000"),
           "UnrecognizedClientException")
    step("no refused CreateAlias made the alias")
    listed = expect_ok(wire.signed("ListAliases", {}))
    names = [a["AliasName"] for a in listed.get("Aliases", [])]
    assert alias not in names and alias + "x" not in names, names


def replay(wire, key):
    step("the same signed bytes twice are both accepted")
    body = json.dumps({"KeyId": key, "Plaintext": "aGVsbG8="}).encode()
    headers = sigv4_headers("Encrypt", body, env("AWS_ACCESS_KEY_ID"),
                            env("AWS_SECRET_ACCESS_KEY"), amz_now())
    first = expect_ok(wire.send(headers, body))
    second = expect_ok(wire.send(headers, body))
    assert first["CiphertextBlob"] and second["CiphertextBlob"], (first, second)


def bad_input(wire, c):
    step("unknown operation")
    expect(wire.signed("FlyToTheMoon", {}), "UnknownOperationException")
    step("malformed JSON changes nothing")
    before = len(expect_ok(wire.signed("ListKeys", {"Limit": 1000}))["Keys"])
    expect(wire.signed("CreateKey", b'{"Description": "x",'), "SerializationException")
    expect(wire.signed("CreateKey", b"\xff\xfe not utf-8"), "SerializationException")
    expect(wire.signed("CreateKey", b"[1, 2]"), "SerializationException", "ValidationException")
    after = len(expect_ok(wire.signed("ListKeys", {"Limit": 1000}))["Keys"])
    assert after == before, f"a refused CreateKey changed the key count {before} -> {after}"
    step("a field of the wrong type")
    expect(wire.signed("DescribeKey", {"KeyId": 5}), "SerializationException",
           "ValidationException")
    step("a missing required field")
    expect(wire.signed("Encrypt", {"Plaintext": "aGVsbG8="}), "ValidationException")
    step("Plaintext that is not base64")
    key = c.list_keys()["Keys"][0]["KeyId"]
    expect(wire.signed("Encrypt", {"KeyId": key, "Plaintext": "%%%"}),
           "SerializationException", "ValidationException")


def ciphertexts(wire, c):
    first = c.create_key()["KeyMetadata"]["KeyId"]
    second = c.create_key()["KeyMetadata"]["KeyId"]
    context = {"order": "42"}
    blob = expect_ok(wire.signed("Encrypt", {"KeyId": first, "Plaintext": "c2VjcmV0",
                                             "EncryptionContext": context}))["CiphertextBlob"]
    step("a blob from another key")
    expect(wire.signed("Decrypt", {"CiphertextBlob": blob, "KeyId": second,
                                   "EncryptionContext": context}), "IncorrectKeyException")
    step("a changed context")
    expect(wire.signed("Decrypt", {"CiphertextBlob": blob, "EncryptionContext": {"order": "43"}}),
           "InvalidCiphertextException")
    step("a garbage blob")
    expect(wire.signed("Decrypt", {"CiphertextBlob": "Z2FyYmFnZQ=="}), "InvalidCiphertextException")
    step("the right context still decrypts")
    ok = expect_ok(wire.signed("Decrypt", {"CiphertextBlob": blob, "EncryptionContext": context}))
    assert ok["Plaintext"] == "c2VjcmV0", ok
    return first


def main():
    wire = Wire()
    c = kms()
    signer_agrees(wire)
    key = ciphertexts(wire, c)
    authentication(wire, key)
    replay(wire, key)
    bad_input(wire, c)


if __name__ == "__main__":
    run(main)
