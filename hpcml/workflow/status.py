"""What a run directory says about its run (``hpcml status``; the numbers of ``hpcml report``).

Everything comes from the journal and ``run.json``: nothing here needs the
ranks of the run or stops it, so ``hpcml status`` may be run while the job
is going.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

from hpcml.errors import UserError
from hpcml.workflow.journal import JOURNAL, Journal
from hpcml.workflow.rundir import RunDir

STAGE_KINDS = ("init", "train", "explore", "label", "check")


def _kind(stage: str) -> str:
    """``iter.003/train`` -> ``train``."""
    return stage.split("/")[-1]


def _iteration(stage: str) -> int | None:
    """``iter.003/train`` -> 3; None for init."""
    return int(stage[5:8]) if stage.startswith("iter.") else None


def collect(workdir: str | Path) -> dict:
    """Numbers describing the run in ``workdir`` (JSON-ready).

    Raises
    ------
    UserError
        When ``workdir`` is not a run directory.
    """
    dirs = RunDir(Path(workdir))
    if not (dirs.root / JOURNAL).exists():
        raise UserError(f"{dirs.root}: not an hpcml run directory (no {JOURNAL}); give the "
                        "run.workdir of a config run with `hpcml run`")
    journal = Journal(dirs.root, writable=False)
    config = json.loads(dirs.run_json.read_text())["config"] if dirs.run_json.exists() else {}
    iterations: dict[int, dict] = {}
    seconds = {k: 0.0 for k in STAGE_KINDS}
    running = None
    for name, rec in journal.stages.items():
        kind, it = _kind(name), _iteration(name)
        if rec.done is None:
            running = {"stage": name, "since": rec.starts[-1], "attempts": rec.attempts}
            continue
        seconds[kind] += rec.seconds
        if it is not None:
            iterations.setdefault(it, {})[kind] = rec.summary | {"seconds": rec.seconds}
    rows = []
    explored = labeled = 0
    for it in sorted(iterations):
        stages = iterations[it]
        row = {"iteration": it, "seconds": {k: v.get("seconds", 0.0) for k, v in stages.items()}}
        if "train" in stages:
            tr = stages["train"]
            row["train_frames"] = tr.get("n_train", 0) + tr.get("n_valid", 0)
            metrics = [m for m in tr.get("metrics", []) if m]
            if metrics:
                row["valid_rmse_f"] = sum(m.get("rmse_f", 0.0) for m in metrics) / len(metrics)
            row["labels"] = tr.get("n_train", 0) + tr.get("n_valid", 0)
            for key in ("trust_lo", "trust_hi"):
                if key in tr:
                    row[key] = tr[key]
            if tr.get("heldout"):
                row["heldout"] = {"energy_rmse_meV_per_atom":
                                  tr["heldout"]["energy_rmse_per_atom_meV"],
                                  "force_rmse_eV_per_A": tr["heldout"]["force_rmse_eV_per_A"],
                                  "frames": tr["heldout"]["frames"]}
        if "explore" in stages:
            ex = stages["explore"]
            row.update(frames_checked=ex["frames_checked"], fractions=ex["fractions"],
                       candidates=ex["candidates"], selected=ex.get("selected", 0),
                       stage=ex.get("stage", 0),
                       stopped_walkers=[w["walker"] for w in ex.get("walkers", [])
                                        if w.get("stopped_at") is not None])
            explored += ex["frames_checked"]
        if "label" in stages:
            row.update(labeled=stages["label"].get("n_labeled", 0),
                       label_failed=stages["label"].get("n_failed", 0))
            labeled += row["labeled"]
        rows.append(row)
    end = journal.last("run-end")
    init = journal.summary("init")
    checks = [rec for name, rec in journal.stages.items()
              if _kind(name) == "check" and rec.done is not None]
    check = max(checks, key=lambda rec: rec.done).summary if checks else {}
    return {
        "workdir": str(dirs.root), "iterations": rows, "running": running,
        "finished": end is not None and running is None and _after_last_start(journal, end),
        "converged": bool(end and end.get("converged")),
        "init_labeled": init.get("n_labeled", 0), "heldout_frames": init.get("n_heldout", 0),
        "explored_frames": explored,
        "labeled_frames": labeled,
        "labeled_fraction": labeled / explored if explored else 0.0,
        "check": check, "stage_seconds": seconds,
        "trust": {k: config.get("md", {}).get(k) for k in ("trust_lo", "trust_hi")},
        "converge_fraction": config.get("loop", {}).get("converge_fraction"),
    }


def _after_last_start(journal: Journal, end: dict) -> bool:
    """True when the run-end record is newer than the last run-start."""
    start = journal.last("run-start")
    return start is None or end["time"] >= start["time"]


def format_status(info: dict) -> str:
    """The table ``hpcml status`` prints."""
    lines = [f"run {info['workdir']}"]
    if info["running"]:
        r = info["running"]
        age = time.time() - r["since"]
        lines.append(f"stage {r['stage']}: started {age:.0f} s ago (attempt {r['attempts']}; "
                     "running, or interrupted - re-run `hpcml run` to resume)")
    elif info["finished"]:
        lines.append("finished: " + ("converged" if info["converged"] else
                                     "reached loop.max_iterations"))
    lines.append(f"initial labeled frames: {info['init_labeled']}, held-out frames: "
                 f"{info.get('heldout_frames', 0)}")
    lines.append(" iter stage frames  trust_lo/hi  held-out E/F   accurate  candidate  failed  "
                 "explored  selected  labeled  train(s) explore(s) label(s)")
    for row in info["iterations"]:
        fr = row.get("fractions", {})
        sec = row["seconds"]
        held = row.get("heldout")
        held_text = (f"{held['energy_rmse_meV_per_atom']:5.1f} {held['force_rmse_eV_per_A']:5.3f}"
                     if held else "    -     -")
        trust = (f"{row['trust_lo']:5.3f}/{row['trust_hi']:5.3f}" if "trust_lo" in row
                 else "     -     ")
        lines.append(
            f"{row['iteration']:5d} {row.get('stage', 0):5d} {row.get('train_frames', 0):6d} "
            f"{trust} {held_text}  "
            f"{100 * fr.get('accurate', 0):8.1f}% {100 * fr.get('candidate', 0):9.1f}% "
            f"{100 * fr.get('failed', 0):6.1f}% {row.get('frames_checked', 0):9d} "
            f"{row.get('selected', 0):9d} {row.get('labeled', 0):8d} "
            f"{sec.get('train', 0):8.1f} {sec.get('explore', 0):10.1f} {sec.get('label', 0):8.1f}")
        if row.get("stopped_walkers"):
            lines.append(f"      walkers stopped early (above trust_hi): {row['stopped_walkers']}")
    lines.append("held-out E/F: RMSE of the iteration's ensemble on the fixed held-out set "
                 "(meV/atom, eV/A)")
    lines.append(f"labeled {info['labeled_frames']} of {info['explored_frames']} explored "
                 f"frames ({100 * info['labeled_fraction']:.2f} %)")
    check = info["check"]
    if check.get("force_rmse_eV_per_A") is not None:
        lines.append(f"final ensemble on {check['n_labeled']} unseen explored frames: energy "
                     f"{check['energy_rmse_per_atom_meV']:.2f} meV/atom, force "
                     f"{check['force_rmse_eV_per_A']:.3f} eV/A")
    lines.append("time per stage (s): " + ", ".join(
        f"{k} {v:.1f}" for k, v in info["stage_seconds"].items()))
    return "\n".join(lines)


def verdict(info: dict) -> str:
    """One line: how the run ended and its figures of merit."""
    acc = [row["fractions"]["accurate"] for row in info["iterations"] if "fractions" in row]
    trend = " -> ".join(f"{100 * a:.0f}%" for a in acc) or "none"
    state = ("converged" if info["converged"] else "not converged") if info["finished"] \
        else "unfinished"
    text = (f"{state} after {len(acc)} iteration(s); accurate fraction {trend}; labeled "
            f"{info['labeled_frames']} of {info['explored_frames']} explored frames "
            f"({100 * info['labeled_fraction']:.2f} %)")
    text += _heldout_verdict(info["iterations"])
    check = info["check"]
    if check.get("force_rmse_eV_per_A") is not None:
        text += (f"; unseen frames: {check['energy_rmse_per_atom_meV']:.1f} meV/atom, "
                 f"{check['force_rmse_eV_per_A']:.3f} eV/A")
    return text


def _heldout_verdict(rows: list[dict]) -> str:
    """The held-out trend, and whether the models improved and the trust level is strict."""
    held = [(row, row["heldout"]) for row in rows if row.get("heldout")]
    if not held:
        return ""
    forces = [h["force_rmse_eV_per_A"] for _, h in held]
    text = ("; held-out force RMSE " + " -> ".join(f"{f:.3f}" for f in forces) +
            f" eV/A, energy {held[-1][1]['energy_rmse_meV_per_atom']:.1f} meV/atom")
    if len(forces) > 1 and forces[-1] >= forces[0]:
        text += " (held-out force error did not fall: the models did not improve)"
    last = held[-1][0]
    if "trust_lo" in last and forces[-1] > 0:
        text += f"; trust_lo {last['trust_lo']:.3f} eV/A = {last['trust_lo'] / forces[-1]:.1f} x it"
    return text
