"""One KMS call through boto3, for the Rust tests that need a call and its result rather than
a whole scenario (audit events, credential lifecycle).

    call.py OPERATION JSON_PARAMS

Prints one JSON line: {"ok": true, "reply": {...}} (bytes in base64) or {"ok": false,
"code": "<AWS error code>", "status": <HTTP status>}; exits 0 either way and non-zero only
when the call could not be made at all.

Environment: the AWS_* settings (see common.py). Blob parameters are given as base64 text.
"""
import base64
import json
import sys

import botocore.exceptions

from common import kms

BLOBS = {"Plaintext", "CiphertextBlob", "Message", "Signature"}


def plain(value):
    if isinstance(value, (bytes, bytearray)):
        return base64.b64encode(value).decode()
    if isinstance(value, dict):
        return {k: plain(v) for k, v in value.items() if k != "ResponseMetadata"}
    if isinstance(value, list):
        return [plain(v) for v in value]
    return value if isinstance(value, (str, int, float, bool, type(None))) else str(value)


def main():
    operation, params = sys.argv[1], json.loads(sys.argv[2])
    params = {k: base64.b64decode(v) if k in BLOBS else v for k, v in params.items()}
    client = kms()
    names = {api: method for method, api in client.meta.method_to_api_mapping.items()}
    method = getattr(client, names[operation])
    try:
        print(json.dumps({"ok": True, "reply": plain(method(**params))}))
    except botocore.exceptions.ClientError as e:
        print(json.dumps({"ok": False, "code": e.response["Error"]["Code"],
                          "status": e.response["ResponseMetadata"]["HTTPStatusCode"]}))


if __name__ == "__main__":
    main()
