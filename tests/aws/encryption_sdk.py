"""The AWS Encryption SDK, unmodified, encrypting and decrypting a message with a Coffer key:
a StrictAwsKmsMasterKeyProvider on the key's ARN whose botocore session finds Coffer through
AWS_ENDPOINT_URL_KMS and AWS_CA_BUNDLE from the environment, as any deployed program would.

Environment: the AWS_* settings (see common.py).
"""
import secrets

import aws_encryption_sdk
import botocore.session
from aws_encryption_sdk import CommitmentPolicy
from aws_encryption_sdk.exceptions import AWSEncryptionSDKClientError

from common import kms, run, step


def provider(arn):
    # A plain botocore session: endpoint and CA come from the environment alone.
    return aws_encryption_sdk.StrictAwsKmsMasterKeyProvider(
        key_ids=[arn], botocore_session=botocore.session.Session())


def main():
    c = kms()
    step("CreateKey for the SDK")
    arn = c.create_key(Description="encryption sdk")["KeyMetadata"]["Arn"]
    other = c.create_key()["KeyMetadata"]["Arn"]
    sdk = aws_encryption_sdk.EncryptionSDKClient(
        commitment_policy=CommitmentPolicy.REQUIRE_ENCRYPT_REQUIRE_DECRYPT)
    message = secrets.token_bytes(10_000)
    context = {"purpose": "esdk-test"}
    step("encrypt a message")
    ciphertext, header = sdk.encrypt(source=message, key_provider=provider(arn),
                                     encryption_context=context)
    assert message not in ciphertext
    keys = list(header.encrypted_data_keys)
    assert len(keys) == 1, keys
    assert keys[0].key_provider.key_info.decode() == arn, keys[0].key_provider
    keys[0].encrypted_data_key.decode("utf-8")  # the data key is wrapped as Coffer's text
    step("decrypt the message")
    plaintext, decrypted = sdk.decrypt(source=ciphertext, key_provider=provider(arn))
    assert plaintext == message, "the SDK decrypted something else"
    assert decrypted.encryption_context.get("purpose") == "esdk-test", decrypted.encryption_context
    step("another key's provider cannot decrypt it")
    try:
        sdk.decrypt(source=ciphertext, key_provider=provider(other))
    except AWSEncryptionSDKClientError as e:
        print(f"refused as expected: {type(e).__name__}")
    else:
        raise AssertionError("a provider of another key decrypted the message")


if __name__ == "__main__":
    run(main)
