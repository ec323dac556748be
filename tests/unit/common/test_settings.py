import pytest

from numproxy.common.settings import load_settings
from numproxy.sender.settings import SenderSettings


def test_bad_values_exit_2_naming_each_variable_and_no_secret(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("NUMPROXY_SENDER_RATE_LIMIT", "-1")
    monkeypatch.setenv("NUMPROXY_SENDER_PORT", "not-a-port")
    monkeypatch.setenv("NUMPROXY_SENDER_API_SECRET", "hunter2")
    with pytest.raises(SystemExit) as exited:
        load_settings(SenderSettings)
    assert exited.value.code == 2
    err = capsys.readouterr().err
    assert "NUMPROXY_SENDER_RATE_LIMIT" in err and "NUMPROXY_SENDER_PORT" in err
    assert "hunter2" not in err and "Traceback" not in err


def test_good_values_load(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NUMPROXY_SENDER_RATE_LIMIT", "0")
    assert load_settings(SenderSettings).rate_limit == 0


@pytest.mark.parametrize(
    ("value", "problem"),
    [
        ('{"shop": {"scopes": ["sessions:raed"]}}', "NUMPROXY_SENDER_CALLERS.SHOP.SCOPES.0"),
        ('{"shop": {"scopes": [], "pools": ["Bad Pool"]}}', "NUMPROXY_SENDER_CALLERS.SHOP.POOLS"),
        ('{"shop": {"scope": ["sms:send"]}}', "NUMPROXY_SENDER_CALLERS.SHOP.SCOPE"),
        ("not json", "NUMPROXY_SENDER_CALLERS: not valid JSON"),
    ],
)
def test_a_bad_caller_policy_refuses_to_start_with_one_line(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], value: str, problem: str
) -> None:
    monkeypatch.setenv("NUMPROXY_SENDER_CALLERS", value)
    with pytest.raises(SystemExit) as exited:
        load_settings(SenderSettings)
    assert exited.value.code == 2
    err = capsys.readouterr().err
    assert err.startswith("invalid configuration: ") and problem in err
    assert err.count("\n") == 1


def test_callers_default_to_the_router_sending_and_nobody_else() -> None:
    callers = SenderSettings().callers
    assert list(callers) == ["router"]
    assert callers["router"].scopes == {"sms:send"} and callers["router"].pools is None
