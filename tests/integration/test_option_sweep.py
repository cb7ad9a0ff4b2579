"""A generated sweep of every subcommand's options over bad values (issue 15 item 9).

The options are read from the argument parser itself, so a new option is swept
as soon as it is registered.  Each gets the bad values of its kind:

* numbers: ``0``, ``-1``, ``nan``, ``inf``, ``1e30`` and a word;
* paths (and other free text): a missing file, a directory (holding a file of its
  own), an existing unrelated file and the empty string;
* choices: a word that is not one;
* flags: the flag alone;
* the ``-kinetic_*`` PETSc options of ``hpcml kinetic`` and the ``-moments_*`` ones of
  ``hpcml moments solve`` (from their tables) by their type.

Every case runs in process (``hpcml.cli.main.main``) against tiny valid inputs and must
end in exit 2 with a message naming the option, its config key or the file, or in a
clean result that :data:`ALLOWED` explains (and checks where it can) -- never exit 1, a
traceback, a hang (each case has :data:`LIMIT_S` seconds) or a changed file that the case
did not ask to overwrite.  The steps that would do real work (training, MD, CP2K, the
loop) are replaced by a stub that records what reached it, so a clean result is checked
against the values the work would have used.
"""

from __future__ import annotations

import argparse
import functools
import hashlib
import logging
import os
import re
import shutil
import signal
import time
import traceback
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import yaml

from hpcml.cli import common
from hpcml.cli.main import PENDING, build_parser, main

#: Subcommands being built by someone else right now, left out of the sweep until they are
#: committed (then take them out of here and give them tiny inputs in BASE).
NOT_YET: set[str] = set()
#: seconds a case may take before it counts as a hang
LIMIT_S = 30
#: the memory a rank may use in the sweep (sizes above it must stop before allocating)
MEMORY_LIMIT = "2G"

NUMBERS = ("0", "-1", "nan", "inf", "1e30", "abc")
#: value label -> the word given on the command line
PATHS = {"missing": "absent.dat", "directory": "somedir", "existing": "existing.dat",
         "empty": ""}
#: what the unrelated files hold (they must come out unchanged)
PRECIOUS = b"results of another job: not to be overwritten\n"

#: a frame of an error stack printed by a C library (``PetscOptionsGetInt() at options.c:2515``)
C_STACK = re.compile(r"\w+\(\) at \S+:\d+")
CP2K = shutil.which("cp2k.psmp") is not None

KINETIC = "kinetic:\n  nx: 20\n  velocity: {n: 16}\n  t_end: 0.02\n  outputs: 1\n  out: m.h5\n"
MOMENTS = "moments:\n  nx: 20\n  t_end: 0.02\n  outputs: 1\n  out: mo.h5\n"


# --- discovery ---------------------------------------------------------------------------

def _subparsers(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            return dict(action.choices)
    return {}


def commands(parser=None, prefix=()):
    """``(("md",), parser)``, ``(("config", "check"), parser)``, ...: every leaf command."""
    parser = parser or build_parser()
    subs = _subparsers(parser)
    if not subs and not parser.get_default("not_built"):   # an action not built yet: exit 3
        yield prefix, parser
    for name, sub in subs.items():
        if not prefix and (name in NOT_YET or name in PENDING):   # PENDING: exit 3
            continue
        yield from commands(sub, (*prefix, name))


def _kind(action: argparse.Action) -> str:
    if action.nargs == 0:
        return "flag"
    if action.nargs == argparse.REMAINDER:
        return "petsc"
    if action.choices:
        return "choice"
    if action.type in (int, float, common.count):
        return "number"
    if action.type in (None, Path, str, common.pathname, common.nonempty):
        return "path"
    raise AssertionError(f"option {action.option_strings or action.dest} has a type the "
                         f"sweep does not know ({action.type}); give it a kind here")


def _name(action: argparse.Action) -> str:
    return max(action.option_strings, key=len) if action.option_strings else action.dest


def _names(action: argparse.Action) -> tuple[str, ...]:
    """How a message may name the option: ``--t-end``, its config key ``….t_end``, or
    argparse's ``argument config`` / ``argument FILE`` for a positional."""
    if not action.option_strings:
        return tuple(f"argument {n}" for n in (action.dest, action.metavar) if n)
    return (*action.option_strings, f".{action.dest}")


def _values(kind: str) -> dict[str, str | None]:
    if kind == "number":
        return {v: v for v in NUMBERS}
    if kind == "path":
        return dict(PATHS)
    if kind == "choice":
        return {"bogus": "bogus"}
    return {"flag": None}


def _petsc_options(command: tuple[str, ...]) -> dict[str, str]:
    """``-kinetic_ts_cfl`` -> kind, from the table of the command's known PETSc options."""
    if command == ("moments", "solve"):
        from hpcml.moments.petsc.options import KNOWN, PREFIX
    else:
        from hpcml.kinetic.petsc.options import KNOWN, PREFIX

    kinds = {float: "number", int: "number", str: "choice", bool: "flag"}
    return {f"-{PREFIX}{name}": kinds[typ] for name, (typ, _) in KNOWN.items()}


@dataclass(frozen=True)
class Case:
    command: tuple[str, ...]
    option: str           # "--steps", a positional's dest ("config") or "-kinetic_ts_cfl"
    label: str            # "0", "nan", "missing", "flag", ...
    word: str | None      # what is given (None for a flag)
    positional: bool = False
    names: tuple[str, ...] = ()   # how a message may name it (see _names)
    index: int = 0        # which word of a positional that takes several (IN... OUT)

    def __str__(self) -> str:
        at = f"[{self.index}]" if self.index else ""
        return f"{' '.join(self.command) or 'hpcml'} {self.option}{at}={self.label}"


def generate() -> list[Case]:
    cases = []
    parser = build_parser()
    for cmd, sub in [((), parser), *commands(parser)]:
        for action in sub._actions:
            if isinstance(action, (argparse._HelpAction, argparse._VersionAction,
                                   argparse._SubParsersAction)):
                continue
            kind = _kind(action)
            if kind == "petsc":
                for name, petsc_kind in _petsc_options(cmd).items():
                    cases += [Case(cmd, name, label, word)
                              for label, word in _values(petsc_kind).items()]
                continue
            positional = not action.option_strings
            base = BASE.get(cmd, ({}, []))[0].get(action.dest) if positional else None
            for index in range(len(base) if isinstance(base, list) else 1):
                cases += [Case(cmd, _name(action), label, word, positional, _names(action),
                               index)
                          for label, word in _values(kind).items()]
    return cases



# --- tiny valid inputs -------------------------------------------------------------------

#: command -> (positionals in order, dest -> word or list of words, each swept in turn;
#: further words after them)
BASE = {
    (): ({}, ["config", "check", "k.yaml"]),
    ("config", "check"): ({"files": ["k.yaml"]}, []),
    ("config", "schema"): ({}, []),
    ("config", "docs"): ({}, []),
    ("kinetic",): ({"config": "k.yaml"}, []),
    ("moments", "solve"): ({"config": "mo.yaml"}, []),
    ("train",): ({"config": "t.yaml"}, []),
    ("md",): ({"config": "md.yaml"}, ["--model", "a.pt"]),
    ("label",): ({"config": "label.yaml"}, []),
    ("run",): ({"config": "tiny.yaml"}, []),
    ("demo",): ({}, []),
    ("test",): ({"model": "a.pt", "systems": ["lab.h5"]}, []),
    ("export",): ({"ensemble": "a.pt"}, ["--out", "x.dp"]),
    ("import",): ({"models": ["m.dp"]}, ["--out", "imported.pt"]),
    ("convert",): ({"paths": ["lab.h5", "lab.xyz"]}, []),
    ("status",): ({"workdir": "w"}, []),
    ("report",): ({"workdir": "w"}, []),
}


CASES = generate()


def argv(case: Case) -> list[str]:
    assert case.command in BASE, f"`hpcml {' '.join(case.command)}` is new: give it tiny " \
        "valid inputs in BASE (or list it in NOT_YET while it is being built)"
    positionals, extra = BASE[case.command]
    words = list(case.command)
    for dest, word in positionals.items():
        given = list(word) if isinstance(word, list) else [word]
        if case.positional and dest == case.option:
            given[case.index] = case.word
        words += given
    if case.positional:
        return words + extra
    given = [case.option] + ([] if case.word is None else [case.word])
    if not case.command:   # an option of `hpcml` itself goes before the subcommand
        return given + extra
    return words + extra + given


@pytest.fixture(scope="module")
def inputs(tmp_path_factory):
    """A directory with every command's tiny inputs (copied for each case)."""
    from hpcml.io import read_any
    from hpcml.io.store import write_frames
    from hpcml.label.samples import water_box
    from hpcml.testing.data import embedded_water
    from hpcml.testing.loop import make_run
    from hpcml.testing.models import small_committee
    from hpcml.workflow.journal import Journal

    root = tmp_path_factory.mktemp("sweep-inputs")
    water = embedded_water()
    (root / "k.yaml").write_text(KINETIC)
    (root / "mo.yaml").write_text(MOMENTS)
    (root / "t.yaml").write_text(f"""
data: {{type_map: [O, H], systems: ["{water}"]}}
model: {{rcut: 4.0, sel: [30, 60], neuron: [8, 16], axis_neuron: 4, fitting_neuron: [16]}}
train: {{steps: 10, n_models: 1, out: out}}
""")
    small_committee().save(root / "a.pt")
    write_frames(root / "lab.h5", read_any(water).select([0, 1]))
    _in(root, ["export", "a.pt", "--member", "0", "--out", "m.dp"])
    (root / "md.yaml").write_text(f"md: {{structure: '{water}', steps: 10, model_devi_freq: 5, "
                                  "out: out}\n")
    write_frames(root / "cand.h5", water_box(2, 0))
    (root / "label.yaml").write_text(yaml.safe_dump(
        {"label": {"candidates": "cand.h5", "retries": [], "workdir": "label-work"}}))
    if CP2K:   # label once, so the cases find the task done and go on to write the outputs
        _label_once(root)
    make_run(root)
    journal = Journal(root / "w")
    journal.note("run-start", ranks=1)
    journal.done("init", journal.start("init"), {"n_labeled": 3})
    (root / "existing.dat").write_bytes(PRECIOUS)
    (root / "somedir").mkdir()
    (root / "somedir" / "keep.txt").write_bytes(PRECIOUS)
    return root


def _in(root: Path, words: list[str]) -> None:
    """``hpcml WORDS`` run in ``root`` (serial), which must succeed."""
    cwd, env = Path.cwd(), dict(os.environ)
    os.chdir(root)
    os.environ.update(HPCML_NO_MPI="1", OMP_NUM_THREADS="1")
    try:
        assert main(words) == 0
    finally:
        os.chdir(cwd)
        os.environ.clear()
        os.environ.update(env)
        _drop_log_handlers()


def _label_once(root: Path) -> None:
    _in(root, ["label", "label.yaml"])
    for name in ("labeled.h5", "labeled.h5.provenance.json"):
        (root / name).unlink()


def _drop_log_handlers() -> None:
    logger = logging.getLogger("hpcml")
    for handler in list(logger.handlers):
        logger.removeHandler(handler)
        handler.close()


# --- running a case ----------------------------------------------------------------------

class Reached(Exception):
    """Raised by the stubs that stand for real work: the case got past every check."""

    def __init__(self, what: str, **got):
        super().__init__(what)
        self.what, self.got = what, got


class Hang(Exception):
    pass


@dataclass
class Result:
    rc: int | None
    out: str
    err: str
    reached: Reached | None = None
    crash: str = ""
    changed: list[str] = field(default_factory=list)
    where: Path = Path()


def _stub_work(monkeypatch) -> None:
    import hpcml.explore.job
    import hpcml.label.driver
    import hpcml.train.ensemble
    import hpcml.workflow.loop

    def train(ctx, spec, cfg, systems, fmt):
        raise Reached("train", cfg=cfg, spec=spec)

    def md(ctx, committee, cfg, atoms=None, out=None):
        raise Reached("md", cfg=cfg, atoms=atoms, out=out)

    def tasks(template, frames, settings, workdir, concurrent=1):
        if next(iter(frames), None) is not None:
            raise Reached("label", workdir=workdir)
        return []

    def loop(self):
        raise Reached("loop", config=self.config, root=self.dirs.root)

    monkeypatch.setattr(hpcml.label.driver, "find_cp2k", _find_cp2k)   # `--version`: 1 s
    monkeypatch.setattr(hpcml.train.ensemble, "train_ensemble", train)
    monkeypatch.setattr(hpcml.explore.job, "run_md", md)
    monkeypatch.setattr(hpcml.label.driver, "run_tasks", tasks)
    monkeypatch.setattr(hpcml.workflow.loop.Loop, "run", loop)


@functools.lru_cache
def _find_cp2k(command):
    from hpcml.label.cp2k.program import find_cp2k

    return find_cp2k(command)


def _hashes(root: Path) -> dict[str, str]:
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in [root / "existing.dat", root / "somedir" / "keep.txt"] if p.exists()}


def _on_alarm(signum, frame):
    raise Hang


def run_case(case: Case, inputs: Path, where: Path, monkeypatch, capsys) -> Result:
    shutil.copytree(inputs, where)
    monkeypatch.chdir(where)
    monkeypatch.setenv("HPCML_NO_MPI", "1")
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    monkeypatch.setenv("HPCML_MEMORY_LIMIT", MEMORY_LIMIT)
    _stub_work(monkeypatch)
    before = _hashes(where)
    capsys.readouterr()
    result = Result(None, "", "", where=where)
    outer = signal.getitimer(signal.ITIMER_REAL)[0]   # pytest-timeout's, if it uses signals
    start = time.monotonic()
    old = signal.signal(signal.SIGALRM, _on_alarm)
    signal.setitimer(signal.ITIMER_REAL, LIMIT_S)
    try:
        result.rc = main(argv(case))
    except SystemExit as exc:
        result.rc = exc.code if isinstance(exc.code, int) else 2
    except Reached as exc:
        result.rc, result.reached = 0, exc
    except Hang:
        result.crash = f"still running after {LIMIT_S} s"
    except BaseException:   # noqa: BLE001 (an uncaught exception is what the sweep looks for)
        result.crash = traceback.format_exc()
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, old)
        if outer:
            signal.setitimer(signal.ITIMER_REAL, max(outer - (time.monotonic() - start), 1e-3))
        _drop_log_handlers()
    captured = capsys.readouterr()
    result.out, result.err = captured.out, captured.err
    after = _hashes(where)
    result.changed = [name for name in before if after.get(name) != before[name]]
    return result


# --- what may succeed --------------------------------------------------------------------

def _reached(what: str, key: str | None = None):
    """The stub of ``what`` was reached; with ``key``, with the given path there."""
    def check(r: Result, case: Case) -> bool:
        if r.reached is None or r.reached.what != what:
            return False
        if key is None:
            return True
        got = r.reached.got[key]
        return Path(getattr(got, "out", got)).resolve() == (r.where / case.word).resolve()
    return check


def _wrote(name: str | None = None):
    """A file (or directory) now exists at the given path (or ``name``)."""
    def check(r: Result, case: Case) -> bool:
        target = r.where / (name or case.word)
        return target.is_dir() and any(target.iterdir()) or \
            target.is_file() and target.stat().st_size > 0
    return check


def _printed(text: str):
    def check(r: Result, case: Case) -> bool:
        return text in r.out + r.err
    return check


NEW_OUTPUT = "a new output path is created"
DIR_OUTPUT = "an existing directory takes the outputs beside its own files (kept unchanged)"
FLAG = "the flag alone, on fresh outputs, is a normal run"
#: (command, option, value label) -> (why a clean result is right, a check that it was
#: honoured or None)
ALLOWED: dict[tuple[str, str, str], tuple[str, object]] = {
    **{(cmd, "--workdir", "missing"): (NEW_OUTPUT, _reached("loop", "root"))
       for cmd in ("run", "demo")},
    **{(cmd, "--workdir", "directory"): (DIR_OUTPUT, _reached("loop", "root"))
       for cmd in ("run", "demo")},
    **{(cmd, flag, "flag"): (FLAG, _reached("loop"))
       for cmd in ("run", "demo") for flag in ("--continue-changed", "--no-report", "--json")},
    **{(f"config {cmd}", "--out", "missing"): (NEW_OUTPUT, _wrote()) for cmd in ("schema", "docs")},
    **{(f"config {cmd}", "--force", "flag"): ("prints to stdout", _printed("hpcml"))
       for cmd in ("schema", "docs")},
    ("train", "--out", "missing"): (NEW_OUTPUT, _reached("train", "cfg")),
    ("train", "--out", "directory"): (DIR_OUTPUT, _reached("train", "cfg")),
    **{("train", flag, "flag"): (FLAG, _reached("train"))
       for flag in ("--json", "--force", "--continue-changed")},
    ("md", "--out", "missing"): (NEW_OUTPUT, _reached("md", "out")),
    ("md", "--out", "directory"): (DIR_OUTPUT, _reached("md", "out")),
    **{("md", flag, "flag"): (FLAG, _reached("md"))
       for flag in ("--json", "--force", "--continue-changed")},
    ("label", "--out", "missing"): (NEW_OUTPUT, _wrote()),
    ("label", "--export-deepmd", "missing"): (NEW_OUTPUT, _wrote()),
    ("label", "--export-extxyz", "missing"): (NEW_OUTPUT, _wrote()),
    ("label", "--workdir", "missing"): ("a new workdir: the frame is labeled again there",
                                        _reached("label", "workdir")),
    ("label", "--workdir", "directory"): ("an existing directory becomes the workdir "
                                          "(its own files kept)", _reached("label", "workdir")),
    **{("label", flag, "flag"): ("the task is done already: the rerun writes label.out",
                                 _wrote("labeled.h5"))
       for flag in ("--reuse-workdir", "--keep-failed", "--json", "--force")},
    ("test", "--member", "0"): ("member 0 exists", _printed("# member 0")),
    **{("test", "--detail", label): ("PREFIX.e.out ... are new files beside it",
                                     _wrote(f"{word}.e.out"))
       for label, word in (("missing", "absent"), ("directory", "somedir"),
                           ("existing", "existing"))},
    ("test", "--json", "flag"): (FLAG, _printed('"members"')),
    ("export", "--member", "0"): ("member 0 exists", _wrote("x.dp")),
    ("export", "--force", "flag"): (FLAG, _wrote("x.001.dp")),
    ("import", "--out", "missing"): (NEW_OUTPUT, _wrote()),
    ("import", "--force", "flag"): (FLAG, _wrote("imported.pt")),
    ("convert", "paths[1]", "missing"): ("OUT without a known suffix is a new directory of "
                                         "deepmd/npy systems", _wrote()),
    ("convert", "--force", "flag"): (FLAG, _wrote("lab.xyz")),
    ("status", "--json", "flag"): (FLAG, _printed('"workdir"')),
    ("report", "--out", "missing"): (NEW_OUTPUT, _wrote()),
    ("report", "--out", "directory"): (DIR_OUTPUT, _wrote("somedir/summary.md")),
    ("kinetic", "--knudsen", "1e30"): ("free-molecular flow is a valid regime",
                                       _printed("eps=1e+30")),
    ("kinetic", "--out", "missing"): (NEW_OUTPUT, _wrote()),
    **{("kinetic", flag, "flag"): (FLAG, _wrote("m.h5")) for flag in ("--json", "--force")},
    ("kinetic", "-kinetic_ts_cfl", "1e30"): (
        "clamped to the positivity limit, with a warning",
        _printed("CFL 1e+30 exceeds the positivity limit")),
    ("kinetic", "-kinetic_ts_monitor", "flag"): (FLAG, _printed("step 1: t =")),
    ("moments solve", "--knudsen", "1e30"): ("free-molecular flow is a valid input (the "
                                             "tiny config's euler closure ignores it)",
                                             _printed("eps=1e+30")),
    ("moments solve", "--out", "missing"): (NEW_OUTPUT, _wrote()),
    **{("moments solve", flag, "flag"): (FLAG, _wrote("mo.h5")) for flag in ("--json", "--force")},
    ("moments solve", "-moments_ts_cfl", "1e30"): (
        "clamped to the bound of the limiter, with a warning",
        _printed("CFL 1e+30 exceeds the bound")),
    ("moments solve", "-moments_ts_monitor", "flag"): (FLAG, _printed("step 1: t =")),
}


def _key(case: Case) -> tuple[str, str, str]:
    at = f"[{case.index}]" if case.index else ""
    return " ".join(case.command), f"{case.option}{at}", case.label


def _named(case: Case, err: str) -> bool:
    """The message names the option, its config key or the file given."""
    names = {case.option, *case.names}
    if case.word and case.label != "empty":
        names.add(case.word)
    return any(n in err for n in names)


@pytest.mark.parametrize("case", CASES, ids=str)
def test_option_sweep(case, inputs, tmp_path, monkeypatch, capsys):
    if case.command == ("label",) and not CP2K:
        pytest.skip("needs CP2K (cp2k.psmp)")
    r = run_case(case, inputs, tmp_path / "case", monkeypatch, capsys)
    words = " ".join(repr(w) for w in argv(case))
    assert not r.crash, f"hpcml {words}: uncaught exception or hang\n{r.crash}\n{r.err}"
    text = r.out + r.err
    assert "Traceback" not in text, f"hpcml {words}: a traceback\n{text}"
    assert not C_STACK.search(text), f"hpcml {words}: a C error stack (PETSc's)\n{text}"
    assert r.rc in (0, 2), f"hpcml {words}: exit {r.rc}\n{text}"
    assert not r.changed, f"hpcml {words}: changed {r.changed}\n{text}"
    key = _key(case)
    if r.rc == 2:
        assert "error" in r.err and _named(case, r.err), \
            f"hpcml {words}: exit 2 without naming {case.option} or the file\n{r.err}"
        return
    assert key in ALLOWED, (f"hpcml {words}: exit 0 -- should it be refused? If the value is "
                            f"fine, add {key} to ALLOWED with the reason\n{text}")
    _, check = ALLOWED[key]
    if check is not None:
        assert check(r, case), f"hpcml {words}: exit 0 but the value was not honoured\n{text}"


def test_allowed_entries_are_swept():
    """No stale entries: every allowed pair is a generated case."""
    keys = {_key(c) for c in CASES}
    assert not set(ALLOWED) - keys, sorted(set(ALLOWED) - keys)


def test_the_sweep_covers_every_command():
    swept = {c.command[:1] for c in CASES if c.command}
    assert {(name,) for name in _subparsers(build_parser())} - swept <= \
        {(name,) for name in NOT_YET | set(PENDING)}
