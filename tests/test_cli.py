"""The `acctstate` command: each command's output, every problem reported by `check`,
and errors as one line on stderr with a non-zero exit, never a traceback."""

from __future__ import annotations

import os
import pathlib
import subprocess
import sys

import pytest

import acctstate.cli as cli
from acctstate.cli import PRESETS, load, main, transitions_table
from acctstate.config import dump_workflow
from acctstate.errors import DefinitionError
from acctstate.graph import Transition
from acctstate.presets import isp
from acctstate.simulation import simulate
from acctstate.status import Backend, Status
from acctstate.workflow import Workflow

BROKEN = """\
name = "broken"
initial = ["new"]
[[statuses]]
code = 0
name = "new"
backend = "prospect"
[[statuses]]
code = 1
name = "gone"
backend = "closed"
terminal = true
[[statuses]]
code = 2
name = "orphan"
backend = "active"
[[transitions]]
trigger = "close"
source = "new"
dest = "gone"
[[transitions]]
trigger = "reopen"
source = "gone"
dest = "new"
"""


def _violations() -> list[str]:
    """The rules BROKEN breaks, as the library itself reports them."""
    with pytest.raises(DefinitionError) as info:
        Workflow(
            statuses=[
                Status(code=0, name="new", backend=Backend.PROSPECT, one_way=True),
                Status(code=1, name="gone", backend=Backend.CLOSED, terminal=True),
                Status(code=2, name="orphan", backend=Backend.ACTIVE),
            ],
            transitions=[Transition("close", "new", "gone"), Transition("reopen", "gone", "new")],
            initial=["new"],
        )
    return [v.message for v in info.value.violations]


def _one_error_line(err: str) -> str:
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert "Traceback" not in err
    return lines[0]


@pytest.mark.parametrize("name", sorted(PRESETS))
def test_every_preset_loads(name: str) -> None:
    """Each preset name gives that preset's workflow."""
    assert load(name).name == name


def test_table_lists_every_transition(capsys: pytest.CaptureFixture[str]) -> None:
    """`table` prints a header, a rule and one aligned row per transition."""
    wf = isp.workflow()
    assert main(["table", "isp"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == len(wf.transitions) + 2
    for line, edge in zip(lines[2:], wf.transitions, strict=True):
        assert line.split()[0] == edge.trigger
        assert f"{edge.source.name} ({edge.source.code})" in line
    to_column = lines[0].index("to ")
    assert all(line[to_column - 2 : to_column] == "  " for line in lines[2:])


def test_table_markdown(capsys: pytest.CaptureFixture[str]) -> None:
    """`table --format markdown` is the library's Markdown table."""
    from acctstate.diagram import markdown_table

    assert main(["table", "sonar", "--format", "markdown"]) == 0
    assert capsys.readouterr().out == markdown_table(load("sonar").transitions)


def test_transitions_table_shows_guards() -> None:
    """Guarded transitions show their guards' labels."""
    text = transitions_table(isp.workflow())
    assert "days_in_status(180)" in text and "has_payment_method" in text


@pytest.mark.parametrize("fmt", ["mermaid", "dot"])
def test_graph_text(fmt: str, capsys: pytest.CaptureFixture[str]) -> None:
    """`graph` prints the workflow's own Mermaid or DOT text."""
    assert main(["graph", "engageip", "--format", fmt]) == 0
    wf = load("engageip")
    assert capsys.readouterr().out == (wf.to_mermaid() if fmt == "mermaid" else wf.to_dot())


def test_graph_around_and_output(tmp_path: pathlib.Path) -> None:
    """`--around` draws a neighbourhood (fewer statuses), `-o` writes a file."""
    out = tmp_path / "g.mmd"
    assert main(["graph", "isp", "--around", "active_trial", "-o", str(out)]) == 0
    text = out.read_text()
    assert "active_trial" in text and "service_order_complete" in text
    assert "archived" not in text


def test_graph_from_a_file(tmp_path: pathlib.Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A workflow file is drawn like a preset."""
    path = tmp_path / "isp.toml"
    path.write_text(dump_workflow(isp.workflow()))
    assert main(["graph", str(path), "-f", "dot"]) == 0
    assert capsys.readouterr().out == isp.workflow().to_dot()


def test_graph_svg_or_a_clear_error(capsys: pytest.CaptureFixture[str]) -> None:
    """SVG is rendered when Graphviz is there; otherwise one line says what to install."""
    code = main(["graph", "portabilling", "-f", "svg"])
    captured = capsys.readouterr()
    if code == 0:
        assert "<svg" in captured.out
    else:
        assert code == 1
        line = _one_error_line(captured.err)
        assert "install" in line


def test_graph_svg_missing_dependency(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """A missing Graphviz is one error line naming the extra, exit 1."""
    import acctstate.export as export
    from acctstate.export import MissingDependency

    def missing(*args: object, **kwargs: object) -> str:
        raise MissingDependency(
            "the graphviz package",
            needed_for="SVG diagrams",
            install="pip install acctstate[diagrams]",
        )

    monkeypatch.setattr(export, "to_svg", missing)
    assert main(["graph", "isp", "-f", "svg"]) == 1
    line = _one_error_line(capsys.readouterr().err)
    assert line == (
        "acctstate graph: error: SVG diagrams needs the graphviz package, which is not "
        "installed: pip install acctstate[diagrams]"
    )


def test_check_ok(tmp_path: pathlib.Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A valid file is reported ok with its size, exit 0."""
    path = tmp_path / "isp.json"
    wf = isp.workflow()
    path.write_text(dump_workflow(wf, format="json"))
    assert main(["check", str(path)]) == 0
    out = capsys.readouterr().out
    assert f"{len(wf.catalog)} statuses, {len(wf.transitions)} transitions" in out


def test_check_prints_every_problem(
    tmp_path: pathlib.Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Every broken rule of the graph is printed, one per line, and the exit is 1."""
    path = tmp_path / "broken.toml"
    path.write_text(BROKEN)
    assert main(["check", str(path)]) == 1
    lines = capsys.readouterr().out.splitlines()
    expected = _violations()
    assert len(expected) > 1
    assert len(lines) == len(expected)
    for line, message in zip(lines, expected, strict=True):
        assert line.startswith(f"{path}: [") and line.endswith(message)


def test_check_reports_a_syntax_error_with_its_line(
    tmp_path: pathlib.Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A file that does not parse is reported with its line number."""
    path = tmp_path / "bad.toml"
    path.write_text('name = "x"\ninitial = [\n')
    assert main(["check", str(path)]) == 1
    out = capsys.readouterr().out
    assert out.startswith(f"{path}:") and "not valid TOML" in out


def test_check_many_files(tmp_path: pathlib.Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Several files are checked; one bad file (or a missing one) makes the exit 1."""
    good = tmp_path / "good.toml"
    good.write_text(dump_workflow(isp.workflow()))
    assert main(["check", str(good), str(tmp_path / "missing.toml")]) == 1
    out = capsys.readouterr().out.splitlines()
    assert out[0].startswith(f"{good}: ok") and out[1].endswith("missing.toml: no such file")


def test_simulate_prints_months(capsys: pytest.CaptureFixture[str]) -> None:
    """`simulate` prints the counts at the end of each month of the simulation, with the
    same totals as the library's simulation, and draws progress on stderr."""
    assert main(["simulate", "isp", "--accounts", "80", "--days", "62", "--seed", "3"]) == 0
    captured = capsys.readouterr()
    expected = simulate(accounts=80, days=62, seed=3)
    months = expected.monthly()
    lines = captured.out.splitlines()
    header = next(line for line in lines if line.startswith("status"))
    assert header.split()[1:] == ["start", *months]
    total = next(line for line in lines if line.startswith("total"))
    assert [int(n) for n in total.split()[1:]][-1] == len(expected.accounts)
    active = next(line for line in lines if line.startswith("active "))
    assert [int(n) for n in active.split()[2:]] == [m["active"] for m in months.values()]
    assert "simulating" in captured.err and "62/62 days" in captured.err


def test_simulate_quiet(capsys: pytest.CaptureFixture[str]) -> None:
    """`--quiet` draws no progress."""
    assert main(["simulate", "isp", "-n", "5", "-d", "3", "-q"]) == 0
    assert capsys.readouterr().err == ""


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["graph", "ips"], "no preset or file named 'ips'"),
        (["table", "nothere.toml"], "no such file: nothere.toml"),
        (["graph", "isp", "--around", "bogus"], "unknown status 'bogus'"),
        (["graph", "isp", "--steps", "2"], "--steps needs --around"),
        (["simulate", "sonar", "-n", "5", "-d", "2"], "lacks"),
    ],
)
def test_errors_are_one_line(
    argv: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """A failed command prints one line on stderr naming the command, and exits 1."""
    assert main(argv) == 1
    line = _one_error_line(capsys.readouterr().err)
    assert line.startswith(f"acctstate {argv[0]}: error: ") and message in line


def test_a_bad_file_is_one_line(tmp_path: pathlib.Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A workflow file that breaks rules, given to `graph`, is one line listing them."""
    path = tmp_path / "broken.toml"
    path.write_text(BROKEN)
    assert main(["graph", str(path)]) == 1
    line = _one_error_line(capsys.readouterr().err)
    assert all(message in line for message in _violations())


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["graph", "isp", "--format", "png"], "invalid choice: 'png'"),
        (["simulate", "isp", "--days", "0"], "expected at least 1 day"),
        (["simulate", "isp", "--accounts", "many"], "expected a whole number, got 'many'"),
        (["frobnicate"], "invalid choice: 'frobnicate'"),
        ([], "required: COMMAND"),
    ],
)
def test_bad_command_lines_exit_2(
    argv: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """A bad command line is one error line (with where to get help) and exit status 2."""
    with pytest.raises(SystemExit) as info:
        main(argv)
    assert info.value.code == 2
    err = capsys.readouterr().err
    assert message in err and "--help" in err.splitlines()[-1]
    assert "Traceback" not in err


def test_an_unexpected_failure_is_one_line(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Even a bug surfaces as one line (exit 70), not a traceback."""

    def broken(wf: object) -> str:
        raise RuntimeError("boom\nsecond line")

    monkeypatch.setattr(cli, "transitions_table", broken)
    monkeypatch.delenv("ACCTSTATE_DEBUG", raising=False)
    assert main(["table", "isp"]) == 70
    line = _one_error_line(capsys.readouterr().err)
    assert "internal error: RuntimeError: boom; second line" in line


@pytest.mark.parametrize(
    ("argv", "code"),
    [
        (["--help"], 0),
        (["check", "--help"], 0),
        (["graph", "--help"], 0),
        (["table", "--help"], 0),
        (["simulate", "--help"], 0),
        (["graph", "nonesuch"], 1),
        (["graph", "isp", "-f", "gif"], 2),
    ],
)
def test_python_dash_m(argv: list[str], code: int) -> None:
    """`python -m acctstate` runs the command; help exists for every command and errors
    never show a traceback."""
    done = subprocess.run(
        [sys.executable, "-m", "acctstate", *argv],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "ACCTSTATE_DEBUG": ""},
    )
    assert done.returncode == code, done.stderr
    assert "Traceback" not in done.stderr
    if code == 0:
        assert done.stdout.startswith("usage: acctstate")
    else:
        assert done.stderr.strip()
