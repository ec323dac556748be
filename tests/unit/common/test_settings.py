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
