import json
import logging

import pytest

from numproxy.common.logging import JsonFormatter, configure_logging, request_id


def test_json_lines_mask_numbers_and_carry_request_id() -> None:
    record = logging.makeLogRecord(
        {"msg": "forwarded %s", "args": ("+15550100123",), "levelname": "INFO", "name": "x"}
    )
    token = request_id.set("req-1")
    try:
        entry = json.loads(JsonFormatter("router").format(record))
    finally:
        request_id.reset(token)
    assert entry["message"] == "forwarded +1***23"
    assert entry["request_id"] == "req-1"
    assert entry["service"] == "router"


def test_text_format_masks_numbers(capsys: pytest.CaptureFixture[str]) -> None:
    configure_logging("gateway", "INFO", "text")
    logging.getLogger("t").info("sms from 447700900000")
    err = capsys.readouterr().err
    assert "447700900000" not in err
    assert "44***00" in err
