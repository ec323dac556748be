"""``numproxy token``: a token for the caller, the hash entry for the server."""

from __future__ import annotations

import json

import pytest

from numproxy.cli.main import main
from numproxy.common.authentication import TokenTable


def test_token_prints_a_token_and_the_entry_that_accepts_it(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert main(["token", "reporting"]) == 0
    lines = capsys.readouterr().out.splitlines()
    token = lines[0].split()[-1]
    entry = json.loads(lines[1].split(": ", 1)[1])
    assert list(entry) == ["reporting"]
    assert token not in lines[1]  # the server's entry holds the hash, never the token
    assert TokenTable(entry).name_of(token) == "reporting"
    assert main(["token", "reporting"]) == 0
    assert capsys.readouterr().out.splitlines()[0].split()[-1] != token  # random each time


def test_token_refuses_a_name_the_servers_would_refuse(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert main(["token", "no spaces"]) == 1
    assert "not a DNS-like name" in capsys.readouterr().err


def test_the_cli_refuses_a_token_without_tls(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["pool", "list", "--plaintext", "--token", "t"]) == 1
    assert capsys.readouterr().err.strip() == (
        "error: --token needs TLS (a folder with ca.pem: --tls-dir)"
    )
