"""Provider status -> retry decision and gRPC error."""

import grpc
import pytest

from numproxy.sender import statuses


@pytest.mark.parametrize("status", [1, 5, 10, 13])
def test_transient_statuses(status: int) -> None:
    assert statuses.is_transient(status)


@pytest.mark.parametrize("status", [2, 3, 4, 6, 7, 9, 12, 14, 32, 34])
def test_other_statuses_are_final(status: int) -> None:
    assert not statuses.is_transient(status)


@pytest.mark.parametrize(
    ("status", "code"),
    [
        *[(s, grpc.StatusCode.INVALID_ARGUMENT) for s in (2, 3, 6, 12, 15, 16, 20, 22, 23, 34)],
        *[(s, grpc.StatusCode.PERMISSION_DENIED) for s in (4, 8, 11, 14, 32)],
        *[(s, grpc.StatusCode.FAILED_PRECONDITION) for s in (7, 9, 17, 19, 29, 33)],
    ],
)
def test_permanent_error_codes(status: int, code: grpc.StatusCode) -> None:
    error = statuses.permanent_error(status, "Some text")
    assert error.code == code
    assert error.reason == f"PROVIDER_STATUS_{status}"
    assert error.metadata == {"status": str(status), "error_text": "Some text"}


def test_error_text_numbers_are_masked() -> None:
    error = statuses.permanent_error(3, "Invalid to 447700900123")
    assert "447700900123" not in error.metadata["error_text"]
    assert "447700900123" not in error.message


def test_exhausted_transient_is_unavailable() -> None:
    error = statuses.exhausted_error(1, "Throughput Rate Exceeded - please wait [ 100 ] and retry")
    assert error.code == grpc.StatusCode.UNAVAILABLE
    assert error.reason == "PROVIDER_STATUS_1"


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("Throughput Rate Exceeded - please wait [ 978 ] and retry", 0.978),
        ("please wait [5]", 0.005),
        ("Throughput Rate Exceeded", None),
    ],
)
def test_wait_hint(text: str, seconds: float | None) -> None:
    assert statuses.wait_hint(text) == seconds
