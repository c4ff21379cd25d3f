"""Every AWS KMS operation Coffer answers, through boto3 as an AWS program calls it, with the
error cases each has and, for each refused mutation, a read showing that nothing changed.

Environment: the AWS_* settings (see common.py), COFFER_GROUP (the caller's group, for the
`coffer:group` tag), COFFER_LIMITED_ACCESS_KEY_ID / COFFER_LIMITED_SECRET_ACCESS_KEY (a
credential of the same app whose flags allow only `keyring.*.encrypt`).
"""
import hashlib
import re
import secrets

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, utils

from common import env, expect_error, kms, region, run, step

WRONG_USE = ("InvalidKeyUsageException", "ValidationException")
ARN = re.compile(r"^arn:aws:kms:(?P<region>[a-z0-9-]+):(?P<account>\d{12}):key/(?P<id>.+)$")


def arn_of(meta, prefix):
    """Checks a KeyMetadata's id and ARN; returns the ARN."""
    key_id, arn = meta["KeyId"], meta["Arn"]
    assert key_id.startswith(prefix), f"KeyId {key_id} should start with {prefix}"
    match = ARN.match(arn)
    assert match, f"ARN {arn} is not arn:aws:kms:<region>:<12 digits>:key/<id>"
    assert match["region"] == region(), f"ARN {arn} names another region than {region()}"
    assert match["id"] == key_id, f"ARN {arn} does not end with KeyId {key_id}"
    return arn


def key_ids(c):
    ids = []
    for page in c.get_paginator("list_keys").paginate():
        ids += [k["KeyId"] for k in page["Keys"]]
    return ids


def aliases(c):
    found = {}
    for page in c.get_paginator("list_aliases").paginate():
        for a in page["Aliases"]:
            found[a["AliasName"]] = a
    return found


def state(c, key):
    return c.describe_key(KeyId=key)["KeyMetadata"]["KeyState"]


def symmetric_keys(c):
    step("CreateKey symmetric")
    meta = c.create_key(Description="boto3 test key")["KeyMetadata"]
    arn = arn_of(meta, "kr_")
    assert meta["KeyState"] == "Enabled" and meta["Enabled"] is True, meta
    assert meta["KeySpec"] == "SYMMETRIC_DEFAULT", meta
    assert meta["KeyUsage"] == "ENCRYPT_DECRYPT", meta
    step("CreateKey with the coffer:group tag")
    tagged = c.create_key(Tags=[{"TagKey": "coffer:group", "TagValue": env("COFFER_GROUP")}])
    other = tagged["KeyMetadata"]["KeyId"]
    step("DescribeKey by id and by ARN")
    for ref in (meta["KeyId"], arn):
        got = c.describe_key(KeyId=ref)["KeyMetadata"]
        assert got["KeyId"] == meta["KeyId"] and got["Arn"] == arn, got
    step("ListKeys")
    listed = key_ids(c)
    assert meta["KeyId"] in listed and other in listed, listed
    step("DescribeKey of an unknown key")
    expect_error("NotFoundException", c.describe_key, KeyId="kr_doesnotexist0000000000")
    expect_error("NotFoundException", c.describe_key, KeyId="alias/no-such-alias")
    return meta["KeyId"], arn, other


def alias_ops(c, key, other):
    name = f"alias/boto3-{secrets.token_hex(4)}"
    step("CreateAlias")
    c.create_alias(AliasName=name, TargetKeyId=key)
    found = aliases(c)
    assert name in found and found[name]["TargetKeyId"] == key, found.get(name)
    assert c.describe_key(KeyId=name)["KeyMetadata"]["KeyId"] == key
    step("CreateAlias of a taken name changes nothing")
    expect_error("AlreadyExistsException", c.create_alias, AliasName=name, TargetKeyId=other)
    assert aliases(c)[name]["TargetKeyId"] == key, "a refused CreateAlias moved the alias"
    step("CreateAlias of an invalid name")
    expect_error(("ValidationException", "InvalidAliasNameException"), c.create_alias,
                 AliasName="no-prefix", TargetKeyId=key)
    step("DeleteAlias")
    spare = f"alias/spare-{secrets.token_hex(4)}"
    c.create_alias(AliasName=spare, TargetKeyId=other)
    c.delete_alias(AliasName=spare)
    assert spare not in aliases(c), "DeleteAlias left the alias"
    expect_error("NotFoundException", c.delete_alias, AliasName=spare)
    return name


def encrypt_decrypt(c, key, arn, alias, other):
    context = {"purpose": "boto3", "tenant": "t1"}
    plaintext = secrets.token_bytes(300)
    step("Encrypt through the alias")
    out = c.encrypt(KeyId=alias, Plaintext=plaintext, EncryptionContext=context)
    blob = out["CiphertextBlob"]
    assert out["KeyId"] == arn, f"Encrypt KeyId {out['KeyId']} is not the key's ARN {arn}"
    text = blob.decode("utf-8")  # Coffer's native ciphertext string
    assert plaintext not in blob and text.isprintable(), "the blob is not Coffer's text"
    step("Decrypt without KeyId")
    got = c.decrypt(CiphertextBlob=blob, EncryptionContext=context)
    assert got["Plaintext"] == plaintext and got["KeyId"] == arn, got["KeyId"]
    step("Decrypt with the right KeyId (id, ARN, alias)")
    for ref in (key, arn, alias):
        assert c.decrypt(CiphertextBlob=blob, EncryptionContext=context, KeyId=ref)["Plaintext"] == plaintext
    step("Decrypt with another key's KeyId")
    expect_error("IncorrectKeyException", c.decrypt, CiphertextBlob=blob,
                 EncryptionContext=context, KeyId=other)
    step("Decrypt with a changed or missing context")
    expect_error("InvalidCiphertextException", c.decrypt, CiphertextBlob=blob,
                 EncryptionContext={"purpose": "boto3", "tenant": "t2"})
    expect_error("InvalidCiphertextException", c.decrypt, CiphertextBlob=blob)
    step("Decrypt of a garbage blob")
    expect_error("InvalidCiphertextException", c.decrypt, CiphertextBlob=b"not a ciphertext at all")
    expect_error("InvalidCiphertextException", c.decrypt, CiphertextBlob=secrets.token_bytes(64))
    step("Encrypt of an unknown key, of too much plaintext")
    expect_error("NotFoundException", c.encrypt, KeyId="kr_doesnotexist0000000000", Plaintext=b"x")
    expect_error("ValidationException", c.encrypt, KeyId=key, Plaintext=b"x" * 4097)
    return blob, context, plaintext


def reencrypt(c, blob, context, plaintext, arn, other):
    step("ReEncrypt to another key")
    out = c.re_encrypt(CiphertextBlob=blob, SourceEncryptionContext=context,
                       DestinationKeyId=other, DestinationEncryptionContext={"moved": "yes"})
    assert out["SourceKeyId"] == arn, out["SourceKeyId"]
    assert out["KeyId"].endswith("/" + other), out["KeyId"]
    moved = c.decrypt(CiphertextBlob=out["CiphertextBlob"], EncryptionContext={"moved": "yes"})
    assert moved["Plaintext"] == plaintext, "ReEncrypt lost the plaintext"
    step("ReEncrypt with a wrong source context")
    expect_error("InvalidCiphertextException", c.re_encrypt, CiphertextBlob=blob,
                 SourceEncryptionContext={"x": "y"}, DestinationKeyId=other)


def data_keys(c, key):
    step("GenerateDataKey AES_256")
    out = c.generate_data_key(KeyId=key, KeySpec="AES_256", EncryptionContext={"dk": "1"})
    assert len(out["Plaintext"]) == 32, len(out["Plaintext"])
    back = c.decrypt(CiphertextBlob=out["CiphertextBlob"], EncryptionContext={"dk": "1"})
    assert back["Plaintext"] == out["Plaintext"], "the data key does not decrypt to itself"
    step("GenerateDataKey NumberOfBytes and AES_128")
    assert len(c.generate_data_key(KeyId=key, NumberOfBytes=64)["Plaintext"]) == 64
    assert len(c.generate_data_key(KeyId=key, KeySpec="AES_128")["Plaintext"]) == 16
    step("GenerateDataKey with neither KeySpec nor NumberOfBytes, or both")
    expect_error("ValidationException", c.generate_data_key, KeyId=key)
    expect_error("ValidationException", c.generate_data_key, KeyId=key, KeySpec="AES_256",
                 NumberOfBytes=32)
    step("GenerateDataKeyWithoutPlaintext")
    out = c.generate_data_key_without_plaintext(KeyId=key, KeySpec="AES_256")
    assert "Plaintext" not in out, "GenerateDataKeyWithoutPlaintext returned a plaintext"
    assert len(c.decrypt(CiphertextBlob=out["CiphertextBlob"])["Plaintext"]) == 32
    step("GenerateRandom")
    first = c.generate_random(NumberOfBytes=48)["Plaintext"]
    second = c.generate_random(NumberOfBytes=48)["Plaintext"]
    assert len(first) == 48 and first != second, "GenerateRandom is not random"
    expect_error("ValidationException", c.generate_random, NumberOfBytes=0)
    expect_error("ValidationException", c.generate_random, NumberOfBytes=1025)


def ec_key(c):
    step("CreateKey ECC_NIST_P256 SIGN_VERIFY")
    meta = c.create_key(KeySpec="ECC_NIST_P256", KeyUsage="SIGN_VERIFY")["KeyMetadata"]
    arn_of(meta, "key_")
    assert meta["KeySpec"] == "ECC_NIST_P256" and meta["KeyUsage"] == "SIGN_VERIFY", meta
    assert "ECDSA_SHA_256" in meta.get("SigningAlgorithms", []), meta
    key = meta["KeyId"]
    step("GetPublicKey P-256")
    got = c.get_public_key(KeyId=key)
    assert got["KeySpec"] == "ECC_NIST_P256" and got["KeyUsage"] == "SIGN_VERIFY", got
    public = serialization.load_der_public_key(got["PublicKey"])
    assert isinstance(public.curve, ec.SECP256R1), public.curve
    message = b"a message signed by Coffer"
    step("Sign RAW and DIGEST, checked outside Coffer")
    raw = c.sign(KeyId=key, Message=message, MessageType="RAW",
                 SigningAlgorithm="ECDSA_SHA_256")
    assert raw["SigningAlgorithm"] == "ECDSA_SHA_256", raw
    public.verify(raw["Signature"], message, ec.ECDSA(hashes.SHA256()))
    digest = hashlib.sha256(message).digest()
    signed = c.sign(KeyId=key, Message=digest, MessageType="DIGEST",
                    SigningAlgorithm="ECDSA_SHA_256")["Signature"]
    public.verify(signed, digest, ec.ECDSA(utils.Prehashed(hashes.SHA256())))
    step("Verify good and bad signatures")
    ok = c.verify(KeyId=key, Message=message, Signature=raw["Signature"],
                  SigningAlgorithm="ECDSA_SHA_256")
    assert ok["SignatureValid"] is True, ok
    expect_error("KMSInvalidSignatureException", c.verify, KeyId=key, Message=message + b"!",
                 Signature=raw["Signature"], SigningAlgorithm="ECDSA_SHA_256")
    # AWS answers both with InvalidKeyUsageException; the contract names no code for them.
    step("Sign with an algorithm the key does not have")
    expect_error(WRONG_USE, c.sign, KeyId=key, Message=message,
                 SigningAlgorithm="RSASSA_PSS_SHA_256")
    step("Encrypt with a signing key")
    expect_error(WRONG_USE, c.encrypt, KeyId=key, Plaintext=b"x")
    return key


def rsa_key(c):
    step("CreateKey RSA_2048 SIGN_VERIFY")
    meta = c.create_key(KeySpec="RSA_2048", KeyUsage="SIGN_VERIFY")["KeyMetadata"]
    key = meta["KeyId"]
    public = serialization.load_der_public_key(c.get_public_key(KeyId=key)["PublicKey"])
    assert public.key_size == 2048, public.key_size
    message = b"an RSA-signed message"
    step("Sign RSASSA_PSS_SHA_256 and RSASSA_PKCS1_V1_5_SHA_256")
    pss = c.sign(KeyId=key, Message=message, SigningAlgorithm="RSASSA_PSS_SHA_256")["Signature"]
    public.verify(pss, message, padding.PSS(mgf=padding.MGF1(hashes.SHA256()),
                                            salt_length=32), hashes.SHA256())
    pkcs1 = c.sign(KeyId=key, Message=message,
                   SigningAlgorithm="RSASSA_PKCS1_V1_5_SHA_256")["Signature"]
    public.verify(pkcs1, message, padding.PKCS1v15(), hashes.SHA256())
    assert c.verify(KeyId=key, Message=message, Signature=pss,
                    SigningAlgorithm="RSASSA_PSS_SHA_256")["SignatureValid"] is True


def rotation(c, key, blob, context, plaintext):
    step("GetKeyRotationStatus, Enable/DisableKeyRotation")
    assert c.get_key_rotation_status(KeyId=key)["KeyRotationEnabled"] is False
    c.enable_key_rotation(KeyId=key)
    assert c.get_key_rotation_status(KeyId=key)["KeyRotationEnabled"] is True
    c.disable_key_rotation(KeyId=key)
    assert c.get_key_rotation_status(KeyId=key)["KeyRotationEnabled"] is False
    step("RotateKeyOnDemand keeps old ciphertexts readable")
    out = c.rotate_key_on_demand(KeyId=key)
    assert out["KeyId"] == key or out["KeyId"].endswith("/" + key), out
    assert c.decrypt(CiphertextBlob=blob, EncryptionContext=context)["Plaintext"] == plaintext
    fresh = c.encrypt(KeyId=key, Plaintext=b"after rotation")["CiphertextBlob"]
    assert c.decrypt(CiphertextBlob=fresh)["Plaintext"] == b"after rotation"


def enable_disable(c, key, blob, context):
    step("DisableKey")
    c.disable_key(KeyId=key)
    meta = c.describe_key(KeyId=key)["KeyMetadata"]
    assert meta["KeyState"] == "Disabled" and meta["Enabled"] is False, meta
    expect_error("DisabledException", c.encrypt, KeyId=key, Plaintext=b"x")
    expect_error("DisabledException", c.decrypt, CiphertextBlob=blob, EncryptionContext=context)
    step("EnableKey")
    c.enable_key(KeyId=key)
    assert state(c, key) == "Enabled"
    c.encrypt(KeyId=key, Plaintext=b"x")


def deletion(c, key, blob, context):
    step("ScheduleKeyDeletion with a window under 7 days changes nothing")
    expect_error("ValidationException", c.schedule_key_deletion, KeyId=key, PendingWindowInDays=3)
    assert state(c, key) == "Enabled", "a refused ScheduleKeyDeletion changed the key"
    step("ScheduleKeyDeletion")
    out = c.schedule_key_deletion(KeyId=key, PendingWindowInDays=7)
    assert out["KeyState"] == "PendingDeletion" and "DeletionDate" in out, out
    assert state(c, key) == "PendingDeletion"
    expect_error("KMSInvalidStateException", c.encrypt, KeyId=key, Plaintext=b"x")
    expect_error("KMSInvalidStateException", c.decrypt, CiphertextBlob=blob,
                 EncryptionContext=context)
    step("CancelKeyDeletion leaves the key Disabled")
    c.cancel_key_deletion(KeyId=key)
    assert state(c, key) == "Disabled", state(c, key)
    c.enable_key(KeyId=key)
    assert c.decrypt(CiphertextBlob=blob, EncryptionContext=context)["Plaintext"]


def tags(c, key):
    step("TagResource, ListResourceTags, UntagResource")
    c.tag_resource(KeyId=key, Tags=[{"TagKey": "team", "TagValue": "payments"},
                                    {"TagKey": "env", "TagValue": "test"}])
    listed = {t["TagKey"]: t["TagValue"] for t in c.list_resource_tags(KeyId=key)["Tags"]}
    assert listed.get("team") == "payments" and listed.get("env") == "test", listed
    c.untag_resource(KeyId=key, TagKeys=["team"])
    listed = {t["TagKey"]: t["TagValue"] for t in c.list_resource_tags(KeyId=key)["Tags"]}
    assert "team" not in listed and listed.get("env") == "test", listed
    expect_error("NotFoundException", c.list_resource_tags, KeyId="kr_doesnotexist0000000000")


def limited_credential(c, key, blob, context):
    step("a credential without the flag is refused and changes nothing")
    limited = kms(env("COFFER_LIMITED_ACCESS_KEY_ID"), env("COFFER_LIMITED_SECRET_ACCESS_KEY"))
    limited.encrypt(KeyId=key, Plaintext=b"allowed")
    expect_error("AccessDeniedException", limited.decrypt, CiphertextBlob=blob,
                 EncryptionContext=context)
    before = key_ids(c)
    expect_error("AccessDeniedException", limited.create_key)
    assert key_ids(c) == before, "a refused CreateKey made a key"
    expect_error("AccessDeniedException", limited.disable_key, KeyId=key)
    assert state(c, key) == "Enabled", "a refused DisableKey disabled the key"


def bad_credentials(c):
    step("an unknown access key id, a wrong secret")
    stranger = kms("AKIAUNKNOWNUNKNOWN00", "x" * 40)
    expect_error("UnrecognizedClientException", stranger.list_keys)
    wrong = kms(env("AWS_ACCESS_KEY_ID"), "y" * 40)
    expect_error("InvalidSignatureException", wrong.list_keys)
    step("another region signs and is answered")
    assert isinstance(kms(region_name="eu-west-1").list_keys()["Keys"], list)


def main():
    c = kms()
    key, arn, other = symmetric_keys(c)
    alias = alias_ops(c, key, other)
    blob, context, plaintext = encrypt_decrypt(c, key, arn, alias, other)
    reencrypt(c, blob, context, plaintext, arn, other)
    data_keys(c, key)
    ec_key(c)
    rsa_key(c)
    rotation(c, key, blob, context, plaintext)
    enable_disable(c, key, blob, context)
    deletion(c, key, blob, context)
    tags(c, key)
    limited_credential(c, key, blob, context)
    bad_credentials(c)


if __name__ == "__main__":
    run(main)
