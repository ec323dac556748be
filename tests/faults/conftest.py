"""The fault group prints each scenario's summary line again at the end of the run."""

from __future__ import annotations

import pytest

from tests.faults.harness import SUMMARIES


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if SUMMARIES:
        terminalreporter.section("delivery under faults")
        for line in SUMMARIES:
            terminalreporter.write_line(line)
