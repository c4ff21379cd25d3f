"""What every AWS-face client script shares: the settings from the environment, a boto3 KMS
client pointed at Coffer, the assertion of an AWS error, and the one-line failure report.

The Rust tests (tests/api/aws_kms.rs) run these scripts with the client venv's Python and set
AWS_ENDPOINT_URL_KMS, AWS_CA_BUNDLE, AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY and
AWS_DEFAULT_REGION, plus the Coffer ids a script needs (COFFER_*), so a script runs as any
AWS program would.
"""
import os
import sys
import traceback

import boto3
import botocore.config
import botocore.exceptions

_step = ["start"]


def env(name):
    value = os.environ.get(name)
    if not value:
        raise SystemExit(f"FAIL: environment variable {name} is not set")
    return value


def step(name):
    """Names what the script does now, for the failure line."""
    _step[0] = name
    print(f"step: {name}", flush=True)


def endpoint():
    return env("AWS_ENDPOINT_URL_KMS")


def region():
    return env("AWS_DEFAULT_REGION")


# One attempt per call: a retry would hide a 5xx or a throttle that the test must see. No
# client-side parameter validation: bad input must reach the server, which must refuse it.
NO_RETRY = botocore.config.Config(retries={"total_max_attempts": 1, "mode": "standard"},
                                  parameter_validation=False)


def kms(access_key=None, secret=None, region_name=None):
    """A boto3 KMS client talking to Coffer, with the environment's or the given keys."""
    return boto3.client(
        "kms",
        endpoint_url=endpoint(),
        verify=env("AWS_CA_BUNDLE"),
        region_name=region_name or region(),
        aws_access_key_id=access_key or env("AWS_ACCESS_KEY_ID"),
        aws_secret_access_key=secret or env("AWS_SECRET_ACCESS_KEY"),
        config=NO_RETRY,
    )


def expect_error(code, call, **params):
    """Calls `call(**params)`, which must fail with the AWS error `code` (or one of a tuple of
    codes, where AWS's own documentation allows more than one) and a status < 500."""
    codes = code if isinstance(code, tuple) else (code,)
    try:
        reply = call(**params)
    except botocore.exceptions.ClientError as e:
        got = e.response.get("Error", {}).get("Code")
        status = e.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0)
        assert got in codes, f"expected {' or '.join(codes)}, got {got} (HTTP {status}): {e}"
        assert 400 <= status < 500, f"{got} came with HTTP {status}"
        return e
    raise AssertionError(f"expected {' or '.join(codes)}, the call succeeded: {strip(reply)}")


def strip(reply):
    """A reply without its metadata, short enough for one line."""
    shown = {k: v for k, v in reply.items() if k != "ResponseMetadata"}
    return repr(shown)[:400]


def run(main):
    """Runs `main`; on any failure prints one line naming the step and exits 1."""
    try:
        main()
    except BaseException as e:  # noqa: BLE001 - the report is the point
        if isinstance(e, SystemExit) and e.code in (0, None):
            raise
        traceback.print_exc(file=sys.stderr)
        reason = " ".join(str(e).split()) or type(e).__name__
        print(f"FAIL: {_step[0]}: {type(e).__name__}: {reason}", flush=True)
        sys.exit(1)
    print("OK", flush=True)
