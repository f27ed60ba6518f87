"""What users read says what the product does: the built docs site shows no raw Sphinx
roles, no private base classes and no citations of the source documents, and neither does
the ``acctstate`` command's output for any preset."""

from __future__ import annotations

import html
import importlib.util
import os
import pathlib
import re
import subprocess
import sys

import pytest

from acctstate.cli import PRESETS, main
from acctstate.config import dump_workflow

ROOT = pathlib.Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"
PAGES = sorted(p.relative_to(DOCS).with_suffix("").as_posix() for p in DOCS.rglob("*.md"))

RAW_ROLE = re.compile(r":(?:class|meth|func|data|attr|mod):`?\S")
PRIVATE_BASE = re.compile(r"Bases:[^\n]*?(?:^|[\s,.(])_[A-Za-z]\w*", re.M)
SOURCE_WORDS = re.compile(
    r"\bseed \d{3}|\bseed 00|\b00[0-4] \(|\.\./shared|\bsource documents?\b", re.I
)

# Pages still showing text from modules that were being reorganised when this test was
# written. Each entry goes once its module is fixed (roles: run the role conversion on it);
# the strict xfail then fails to say so.
PENDING_ROLES: dict[str, str] = {}
PENDING_BASES: dict[str, str] = {}
PENDING_WORDS: dict[str, str] = {}
PENDING_CLI: dict[tuple[str, str], str] = {}


def _pages(pending: dict[str, str]) -> list[object]:
    return [
        pytest.param(page, marks=pytest.mark.xfail(reason=pending[page], strict=True))
        if page in pending
        else page
        for page in PAGES
    ]


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> pathlib.Path:
    """The docs site, built once with ``mkdocs build --strict``."""
    if importlib.util.find_spec("mkdocs") is None:
        pytest.skip("mkdocs is not installed (pip install 'acctstate[docs]')")
    out = tmp_path_factory.mktemp("site")
    env = {
        **os.environ,
        "NO_MKDOCS_2_WARNING": "1",
        "PYTHONPATH": os.pathsep.join(
            [str(ROOT / "src"), *filter(None, [os.environ.get("PYTHONPATH")])]
        ),
    }
    done = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "-q", "-d", str(out)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    if done.returncode != 0:
        pytest.fail(f"mkdocs build --strict failed:\n{done.stderr[-5000:]}")
    return out


def _text(site: pathlib.Path, page: str) -> str:
    """The visible text of a built page (tags removed, entities decoded)."""
    name = "index.html" if page == "index" else f"{page}/index.html"
    raw = (site / name).read_text(encoding="utf-8")
    raw = re.sub(r"<(script|style)\b.*?</\1>", "", raw, flags=re.S)
    return html.unescape(re.sub(r"<[^>]+>", "", raw))


def _found(pattern: re.Pattern[str], text: str) -> list[str]:
    """Each match of ``pattern`` in ``text``, with some context."""
    return [
        " ".join(text[max(0, m.start() - 60) : m.end() + 60].split())
        for m in pattern.finditer(text)
    ]


@pytest.mark.parametrize("page", _pages(PENDING_ROLES))
def test_no_raw_sphinx_roles(site: pathlib.Path, page: str) -> None:
    """Docstrings cross-reference as ``[`Name`][acctstate.path]``: no ``:class:`` and
    friends is left for the reader to decode."""
    assert _found(RAW_ROLE, _text(site, page)) == []


@pytest.mark.parametrize("page", _pages(PENDING_BASES))
def test_no_private_bases(site: pathlib.Path, page: str) -> None:
    """A documented class never shows a private class among its bases."""
    assert _found(PRIVATE_BASE, _text(site, page)) == []


@pytest.mark.parametrize("page", _pages(PENDING_WORDS))
def test_no_source_document_words(site: pathlib.Path, page: str) -> None:
    """Pages name product behaviour, never the documents the design was read from
    ("seed 004", "004 (32)", ``../shared/``)."""
    assert _found(SOURCE_WORDS, _text(site, page)) == []


def _cli_param(preset: str, command: str) -> object:
    key = (preset, command)
    if key in PENDING_CLI:
        return pytest.param(
            preset,
            command,
            id=f"{preset}-{command}",
            marks=pytest.mark.xfail(reason=PENDING_CLI[key], strict=True),
        )
    return pytest.param(preset, command, id=f"{preset}-{command}")


@pytest.mark.parametrize(
    ("preset", "command"),
    [_cli_param(p, c) for p in sorted(PRESETS) for c in ("table", "check", "simulate", "help")],
)
def test_cli_output_has_no_source_document_words(
    preset: str, command: str, tmp_path: pathlib.Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """``acctstate table``, ``check`` and ``simulate`` (and ``--help``) print product
    words for every preset, on stdout and stderr alike."""
    if command == "table":
        main(["table", preset])
        main(["table", preset, "--format", "markdown"])
    elif command == "check":
        from acctstate.cli import load

        path = tmp_path / f"{preset}.toml"
        path.write_text(dump_workflow(load(preset)), encoding="utf-8")
        assert main(["check", str(path)]) == 0
    elif command == "simulate":
        main(["simulate", preset, "--accounts", "40", "--days", "40", "--quiet"])
    else:
        with pytest.raises(SystemExit):
            main(["--help"])
    out = capsys.readouterr()
    assert _found(SOURCE_WORDS, out.out + out.err) == []
