"""boto3 against a keyring created natively: decrypts a ciphertext the native API made, then
encrypts one for the native API to decrypt, printed as `BLOB <text>` (a CiphertextBlob is the
UTF-8 bytes of Coffer's native ciphertext string).

Environment: the AWS_* settings (see common.py), COFFER_KEY_ID (the native keyring's id),
COFFER_NATIVE_CIPHERTEXT, COFFER_CONTEXT (JSON), COFFER_PLAINTEXT (what both encrypt).
"""
import json

from common import env, kms, run, step


def main():
    c = kms()
    key, context = env("COFFER_KEY_ID"), json.loads(env("COFFER_CONTEXT"))
    plaintext = env("COFFER_PLAINTEXT").encode()
    step("DescribeKey of the native keyring")
    meta = c.describe_key(KeyId=key)["KeyMetadata"]
    assert meta["KeyId"] == key and meta["KeySpec"] == "SYMMETRIC_DEFAULT", meta
    step("Decrypt a native ciphertext")
    blob = env("COFFER_NATIVE_CIPHERTEXT").encode()
    got = c.decrypt(CiphertextBlob=blob, EncryptionContext=context)
    assert got["Plaintext"] == plaintext, "boto3 read another plaintext from the native text"
    assert got["KeyId"] == meta["Arn"], got["KeyId"]
    step("Encrypt for the native API")
    out = c.encrypt(KeyId=key, Plaintext=plaintext, EncryptionContext=context)
    print("BLOB " + out["CiphertextBlob"].decode("utf-8"), flush=True)


if __name__ == "__main__":
    run(main)
