"""Signs one AWS KMS request (SigV4, service `kms`) for wrk to send over and over.

    aws_signed_request.py URL ACCESS_KEY_ID SECRET REGION OPERATION BODY_FILE OUT_FILE

OUT_FILE gets one `Name: value` header per line (Content-Type, X-Amz-Target, X-Amz-Date,
Authorization). SigV4 has no nonce and the server accepts a signature for 5 minutes, so the
same bytes are valid on every request of a run shorter than that. The standard library alone
signs (hmac), so the benchmark needs no AWS package; the AWS clients themselves are tested in
tests/aws/.
"""
import datetime
import hashlib
import hmac
import sys
from urllib.parse import urlparse

url, access_key, secret, region, operation, body_file, out = sys.argv[1:8]
body = open(body_file, "rb").read()
host = urlparse(url).netloc
amz_date = datetime.datetime.now(datetime.timezone.utc).strftime("%Y%m%dT%H%M%SZ")
content_type = "application/x-amz-json-1.1"
target = f"TrentService.{operation}"
signed = "content-type;host;x-amz-date;x-amz-target"
canonical = "\n".join([
    "POST", "/", "", f"content-type:{content_type}", f"host:{host}", f"x-amz-date:{amz_date}",
    f"x-amz-target:{target}", "", signed, hashlib.sha256(body).hexdigest()])
scope = f"{amz_date[:8]}/{region}/kms/aws4_request"
to_sign = "\n".join(["AWS4-HMAC-SHA256", amz_date, scope,
                     hashlib.sha256(canonical.encode()).hexdigest()])
key = f"AWS4{secret}".encode()
for part in (amz_date[:8], region, "kms", "aws4_request"):
    key = hmac.new(key, part.encode(), hashlib.sha256).digest()
signature = hmac.new(key, to_sign.encode(), hashlib.sha256).hexdigest()
with open(out, "w") as f:
    f.write(f"Content-Type: {content_type}\nX-Amz-Target: {target}\nX-Amz-Date: {amz_date}\n")
    f.write(f"Authorization: AWS4-HMAC-SHA256 Credential={access_key}/{scope}, "
            f"SignedHeaders={signed}, Signature={signature}\n")
