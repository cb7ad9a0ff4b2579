"""The loop's learning rules: stages, trust levels, old/new mixing, spread selection,
walker early stop."""

import numpy as np
import pytest

from hpcml.config import parse_config
from hpcml.config.loop import InitSection, LoopSection, TrustSection
from hpcml.errors import ConfigError
from hpcml.explore.job import run_md
from hpcml.parallel import Context
from hpcml.train.trainer import mixed_pick, mixing_pools
from hpcml.workflow.loop import spread_selection

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")


def loop(**kw):
    return LoopSection(**kw)


def test_stage_repeats_until_its_threshold_then_moves_on():
    cfg = loop(converge_fraction=0.9, schedule=[
        {"steps": 100, "converge_fraction": 0.5, "max_repeats": 3},
        {"steps": 200, "max_repeats": 2}, {"steps": 400}])
    assert cfg.stage_index([]) == 0
    assert cfg.stage_index([0.1]) == 0
    assert cfg.stage_index([0.1, 0.6]) == 1             # passed 0.5: next stage
    assert cfg.stage_index([0.1, 0.2, 0.3]) == 1        # max_repeats reached
    assert cfg.stage_index([0.6, 0.95]) == 2            # stage 1 passed loop's 0.9
    assert cfg.stage_index([0.6, 0.1, 0.1]) == 2        # stage 1 ran twice
    assert cfg.stage_index([0.6, 0.95, 0.1, 0.1, 0.1, 0.1]) == 2   # the last repeats


def test_trust_levels_absolute_and_from_the_error():
    assert TrustSection().levels(0.2, (0.1, 0.3)) == (0.1, 0.3)
    trust = TrustSection(mode="error", lo_factor=2.0, hi_factor=6.0, lo_min=0.05, hi_min=0.3)
    assert trust.levels(0.1, (9, 9)) == pytest.approx((0.2, 0.6))
    assert trust.levels(0.01, (9, 9)) == pytest.approx((0.05, 0.3))      # floors
    with pytest.raises(ValueError, match="hi_factor"):
        TrustSection(mode="error", lo_factor=3.0, hi_factor=2.0)


def test_init_modes_reject_the_other_modes_keys():
    InitSection(structures=["x.xyz"], temperatures=[300.0], steps=50)
    InitSection(mode="perturb", structures=["x.xyz"], n_perturbed=4)
    with pytest.raises(ValueError, match=r"\['n_perturbed'\] belong to the other init mode"):
        InitSection(structures=["x.xyz"], n_perturbed=4)
    with pytest.raises(ValueError, match=r"\['steps'\] belong to the other init mode"):
        InitSection(mode="perturb", structures=["x.xyz"], steps=4)
    with pytest.raises(ValueError, match="skip"):
        InitSection(structures=["x.xyz"], steps=5, skip=10)
    with pytest.raises(ConfigError, match="temperatures"):
        parse_config({"loop": {"init": {"structures": ["x"], "temperatures": [-3.0]}}})


def test_old_ratio_mixing_draws_old_frames_at_the_given_rate():
    new = (7, 8, 9)
    pools = mixing_pools(10, new)
    picks = np.array([mixed_pick(k, 3, pools, 0.25) for k in range(4000)])
    old_share = np.isin(picks, new, invert=True).mean()
    assert abs(old_share - 0.25) < 0.03
    assert set(picks) == set(range(10))                 # every frame is drawn
    again = [mixed_pick(k, 3, pools, 0.25) for k in range(50)]
    assert again == picks[:50].tolist()                 # deterministic (exact restarts)
    assert {mixed_pick(k, 3, mixing_pools(4, ()), 0.5) for k in range(200)} == {0, 1, 2, 3}


def test_spread_selection_covers_the_deviation_range():
    dev = np.array([0.31, 0.9, 0.32, 0.33, 0.35, 0.34, 0.36, 0.8, 0.37, 0.7])
    keep = spread_selection(dev, 3)
    assert keep.tolist() == sorted(keep.tolist())       # input (trajectory) order
    assert dev[keep].min() == dev.min() and dev[keep].max() == dev.max()
    assert spread_selection(dev, 20).tolist() == list(range(10))


def test_walker_stops_after_consecutive_failed_checks(tmp_path):
    from hpcml.config.md import MdSection
    from hpcml.testing.data import embedded_water
    from hpcml.testing.models import small_committee

    def section(out, stop):
        return MdSection(structure=embedded_water(), ensemble="nve", dt=0.5, steps=40,
                         model_devi_freq=5, trust_lo=0.0, trust_hi=1e-9, traj_freq=10,
                         checkpoint_freq=20, stop_failed=stop, out=out)

    ctx = Context.create(serial=True)
    comm = small_committee()
    summary = run_md(ctx, comm, section(tmp_path / "a", 3))
    walker = summary["walkers"][0]
    # checks at steps 0, 5, 10: three failed in a row -> stopped at step 10
    assert walker["stopped_at"] == 10 and walker["steps"] == 10
    assert summary["fractions"]["failed"] == 1.0 and summary["frames_checked"] == 3
    again = run_md(ctx, comm, section(tmp_path / "a", 3))   # a rerun does not go on
    assert again["walkers"][0]["stopped_at"] == 10 and again["frames_checked"] == 3
    full = run_md(ctx, comm, section(tmp_path / "b", 0))
    assert full["walkers"][0]["stopped_at"] is None and full["frames_checked"] == 9


def test_error_mode_levels_never_loosen():
    trust = TrustSection(mode="error", lo_factor=2.5, hi_factor=5.0, lo_min=0.05, hi_min=0.3)
    first = trust.levels(0.24, (9, 9))
    assert first == pytest.approx((0.6, 1.2))
    # hard frames joined the validation set: its error grew, the levels stay
    assert trust.levels(1.7, (9, 9), first) == pytest.approx(first)
    assert trust.levels(0.1, (9, 9), first) == pytest.approx((0.25, 0.5))
