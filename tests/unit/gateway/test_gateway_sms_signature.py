"""SMS-API signature and timestamp checks."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from numproxy.common.vonage_signing import METHODS, SignatureMethod, sign
from numproxy.gateway.errors import WebhookError
from numproxy.gateway.sms_signature import check_sms_signature

NOW = 1_700_000_000.0
SECRET = "s3cret"


def check(params: dict[str, str], method: SignatureMethod = "md5hash", max_age: int = 300) -> None:
    check_sms_signature(params, secret=SECRET, method=method, max_age=max_age, now=NOW)


def rejection(
    params: dict[str, str], method: SignatureMethod = "md5hash", max_age: int = 300
) -> str:
    with pytest.raises(WebhookError) as caught:
        check(params, method, max_age)
    assert caught.value.status == 401
    return caught.value.code


def signed(params: dict[str, str], method: SignatureMethod = "md5hash") -> dict[str, str]:
    return dict(params, sig=sign(params, SECRET, method))


BASE = {"msisdn": "447700900001", "timestamp": str(int(NOW))}


def test_no_secret_checks_nothing() -> None:
    check_sms_signature({}, secret="", method="md5hash", max_age=300, now=NOW)


def test_unsigned_and_empty_sig_are_rejected() -> None:
    assert rejection(BASE) == "SIGNATURE_REQUIRED"
    assert rejection(dict(BASE, sig="")) == "SIGNATURE_REQUIRED"


def test_wrong_method_is_rejected() -> None:
    assert rejection(signed(BASE, "sha1"), method="sha256") == "SIGNATURE_INVALID"


@pytest.mark.parametrize("skew", [-300, 0, 300])
def test_timestamp_inside_window_is_accepted(skew: int) -> None:
    check(signed(dict(BASE, timestamp=str(int(NOW) + skew))))


@pytest.mark.parametrize(
    "timestamp", [str(int(NOW) - 301), str(int(NOW) + 301), "", "12.5", "soon"]
)
def test_timestamp_outside_window_or_unreadable_is_rejected(timestamp: str) -> None:
    assert rejection(signed(dict(BASE, timestamp=timestamp))) == "SIGNATURE_EXPIRED"


def test_missing_timestamp_is_rejected_unless_max_age_is_zero() -> None:
    params = signed({"msisdn": "447700900001"})
    assert rejection(params) == "SIGNATURE_EXPIRED"
    check(params, max_age=0)


def canonical(char: str) -> str:
    return "_" if char in "&=_" else char


# What can arrive over HTTP: any Unicode except lone surrogates (not encodable as UTF-8).
characters = st.characters(codec="utf-8")
params_strategy = st.dictionaries(
    st.text(characters, min_size=1, max_size=10), st.text(characters, max_size=16), max_size=6
)


@given(params=params_strategy, method=st.sampled_from(METHODS), data=st.data())
def test_accepts_what_sign_signs_and_rejects_single_changes(
    params: dict[str, str], method: SignatureMethod, data: st.DataObject
) -> None:
    params.pop("sig", None)
    good = signed(params, method)
    check(good, method, max_age=0)

    changeable = sorted(k for k, v in good.items() if v)
    key = data.draw(st.sampled_from(changeable))
    value = good[key]
    index = data.draw(st.integers(0, len(value) - 1))
    if key == "sig":
        char = data.draw(
            st.sampled_from("0123456789abcdefz").filter(lambda c: c != value[index].lower())
        )
    else:
        char = data.draw(characters.filter(lambda c: canonical(c) != canonical(value[index])))
    tampered = dict(good, **{key: value[:index] + char + value[index + 1 :]})
    assert rejection(tampered, method, max_age=0) == "SIGNATURE_INVALID"
