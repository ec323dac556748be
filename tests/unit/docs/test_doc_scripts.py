"""The documentation scripts: the link check finds what is broken and nothing else; the
generated tables are idempotent and current."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path
from types import ModuleType

from tests.support.user_project import ROOT

SCRIPTS = ROOT / "scripts"


def script(name: str) -> ModuleType:
    sys.path.insert(0, str(SCRIPTS))  # the scripts import their shared helper by name
    try:
        spec = importlib.util.spec_from_file_location(name, SCRIPTS / f"{name}.py")
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        return module
    finally:
        sys.path.remove(str(SCRIPTS))


def test_broken_links_and_anchors_are_reported(tmp_path: Path) -> None:
    check_links = script("check_links")
    (tmp_path / "guide.md").write_text(
        '# A guide\n\n## Set-up & `make run`\n\n<a id="custom"></a>\n## Set-up & `make run`\n'
    )
    (tmp_path / "page.md").write_text(
        "\n".join(
            [
                "# Page",
                "[ok](guide.md) [ok](guide.md#a-guide) [ok](guide.md#set-up--make-run)",
                "[ok](guide.md#set-up--make-run-1) [ok](guide.md#custom) [ok](#page)",
                "![ok](.) [external](https://example.com/nothing.md) [mail](mailto:a@b.c)",
                "[gone](missing.md) [bad anchor](guide.md#nowhere)",
                "`[in code](missing-in-code.md)`",
                "```",
                "[in a fence](missing-in-fence.md)",
                "```",
                "[ref]: also-missing.md",
            ]
        )
        + "\n"
    )
    problems = check_links.check(tmp_path / "page.md", {})
    assert [p.split(": ", 1)[1] for p in problems] == [
        "missing.md: no such file",
        "guide.md#nowhere: no heading or id #nowhere",
        "also-missing.md: no such file",
    ]
    assert all(p.startswith(f"{tmp_path / 'page.md'}:") for p in problems)


def test_every_markdown_file_of_the_repository_links_correctly() -> None:
    result = subprocess.run(
        [sys.executable, str(SCRIPTS / "check_links.py")], capture_output=True, text=True
    )
    assert result.returncode == 0, result.stderr
    assert "links ok" in result.stdout


def test_generated_tables_are_current_and_idempotent() -> None:
    for name in ("settings_doc", "chart_doc"):
        module = script(name)
        assert module.render() == module.render()
        checked = subprocess.run(
            [sys.executable, str(SCRIPTS / f"{name}.py"), "--check"], capture_output=True
        )
        assert checked.returncode == 0, checked.stderr


def test_the_chart_table_has_a_row_for_every_value_with_its_default() -> None:
    table = script("chart_doc").render()
    assert "| `database.type` | `sqlite` \\| `postgresql` | `sqlite` |" in table
    assert "| `image.repository` | string | `numproxy` | image repository |" in table
    assert "| `router.config` |" in table
