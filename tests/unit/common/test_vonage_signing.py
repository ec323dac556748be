"""Known signature vectors for Vonage's SMS-API signing methods."""

from numproxy.common.vonage_signing import sign, signing_base, verify

VECTOR = {"param1": "value1", "param2": "value2", "timestamp": "1234567890"}


def test_sha256_vector() -> None:
    assert (
        sign(VECTOR, "signature_secret", "sha256").lower()
        == "280c4320703dbc98bfa22db676655ed2acfbfe8792b062ff7622e67f1183c287"
    )


def test_hmac_md5_vector() -> None:
    assert sign(VECTOR, "signature_secret", "md5").lower() == "724c2bf6ca423c36e20631b11d1c5753"


def test_base_replaces_separators_in_values_and_skips_sig() -> None:
    assert signing_base({"b": "x&y=z", "a": "1", "sig": "zz"}) == "&a=1&b=x_y_z"


def test_verify_is_case_insensitive_and_rejects_changes() -> None:
    params = dict(VECTOR, sig=sign(VECTOR, "s", "sha512").lower())
    assert verify(params, "s", "sha512")
    assert not verify(dict(params, param1="value2"), "s", "sha512")
    assert not verify(params, "other", "sha512")


def test_verify_accepts_empty_values_signed_either_way() -> None:
    with_empty = {"a": "1", "b": ""}
    assert verify(dict(with_empty, sig=sign(with_empty, "s", "md5hash")), "s", "md5hash")
    assert verify(dict(with_empty, sig=sign({"a": "1"}, "s", "md5hash")), "s", "md5hash")


def test_unsigned_is_rejected() -> None:
    assert not verify(VECTOR, "s", "sha256")
