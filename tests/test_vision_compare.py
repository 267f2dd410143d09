"""bench/vision_compare.py's verdict and table: the issue's targets read off the measured rows."""
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "bench"))
import vision_compare as vc  # noqa: E402


def _row(acc, fid, div=0.05, **kw):
    return {"mean_log_r": -0.01, "eval_accuracy": acc, "fid": fid, "diversity": div, "real_diversity": 0.05,
            "log_z": -3.0, "kl_post_prior": 5.0, "best_scale": None, "ess": None, "wall_s": 1.0, **kw}


def test_verdict_names_baselines_that_beat_rtb_and_never_the_target_row():
    rows = {"target": _row(0.99, 2.0, ess=1800.0, log_z=-2.5, kl_post_prior=2.3), "dps": _row(0.998, 3.7),
            "cg": _row(0.97, 12.7), "ddpo": {"error": ["diverged", ""]}, "rtb": _row(0.966, 6.8)}
    v = vc.verdict(rows)
    assert "target >= 0.95: met" in v and "FID <= RTB's: dps (target: none)" in v
    assert "failed: ddpo" in v and "the target itself: accuracy 0.990, FID 2.00, log Z -2.50, KL to the prior 2.30" in v
    t = vc.table("digits", "3", rows)
    assert "target p·r^β itself (importance resampling, ESS 1800)" in t and "| ddpo | failed: diverged" in t
    assert "| 0.050 |  | 1 |" in t                                   # old JSON rows without the in-class column
    v = vc.verdict({**rows, "rtb": _row(0.966, 6.8, diversity_in_class=0.036)})
    assert "RTB diversity / real = 1.00 (target >= 0.9), in class 0.72" in v
    assert "| 6.800 | 5.100 | 0.050 | 0.036 | 1 |" in vc.table("digits", "3", {"rtb": _row(0.966, 6.8, diversity_in_class=0.036,
                                                                                         fid_in_class=5.1)})
    assert "ESS" not in vc.verdict({"rtb": _row(0.9, 5.0)}) and "not met" in vc.verdict({"rtb": _row(0.9, 5.0)})


def test_rtb_gets_the_set_recipe_only_on_tasks_of_several_classes():
    a = vc.argparse.Namespace(domain="digits", cache="c", eval_samples=10, extra=[], steps=5, proposals=50,
                              rtb_set=vc.SET_RECIPE)
    assert "sampling.target_nll=1" in vc.methods(a, "0,2,4,6,8")["rtb"]
    assert not any(s.startswith("sampling.") for s in vc.methods(a, "3")["rtb"])
    assert not any(s.startswith("sampling.") for s in vc.methods(a, "0,2,4,6,8")["dps"])
    a.rtb_set = ""
    assert not any(s.startswith("sampling.") for s in vc.methods(a, "0,2,4,6,8")["rtb"])
    label = vc.table("digits", "0,2", {"rtb": _row(0.97, 9.0, overrides=["sampling.target=0.3"])})
    assert "| rtb (`sampling.target=0.3`) |" in label


def test_verdict_judges_every_swept_guidance_scale_not_only_the_most_accurate():
    sweep = [{"scale": 1.0, "eval_accuracy": 0.97, "fid": 5.0}, {"scale": 3.0, "eval_accuracy": 1.0, "fid": 9.0}]
    rows = {"dps": _row(1.0, 9.0, best_scale=3.0, sweep=sweep), "rtb": _row(0.96, 6.0)}
    assert "FID <= RTB's: dps (scale 1) (target: none)" in vc.verdict(rows)
    rows["rtb"] = _row(0.98, 6.0)                   # scale 1 is now less accurate than RTB: it no longer counts
    assert "FID <= RTB's: none" in vc.verdict(rows)
    assert "FID <= RTB's: cg" in vc.verdict({"cg": _row(0.99, 5.0), "rtb": _row(0.98, 6.0)})   # rows without a sweep


def test_rtb_seeds_give_one_row_and_verdict_per_run_and_a_count_of_runs_meeting_each_target():
    a = vc.argparse.Namespace(domain="digits", cache="c", eval_samples=10, extra=[], steps=5, proposals=50,
                              rtb_set=vc.SET_RECIPE, rtb_seeds="0, 1")
    runs = vc.methods(a, "3")
    assert "rtb" not in runs and runs["rtb@0"][-1] == "posterior.seed=0" and runs["rtb@1"][-1] == "posterior.seed=1"
    assert "sampling.target_nll=1" in vc.methods(a, "0,2")["rtb@1"]
    rows = {"dps": _row(0.998, 4.0), "rtb@0": _row(0.99, 3.0), "rtb@1": _row(0.97, 5.0, div=0.04),
            "rtb@2": {"error": ["diverged", ""]}}
    v = vc.verdicts(rows)
    assert "rtb@0: RTB accuracy 0.990" in v and "rtb@1: RTB accuracy 0.970" in v and "rtb@2: RTB failed" in v
    assert "FID <= RTB's: dps" in v.split("rtb@1:")[1] and "failed: " not in v.split("\n\n")[0]
    assert "over 3 RTB runs (1 failed): accuracy target met in 2, FID target in 1, diversity target in 1" in v
    t = vc.table("digits", "3", rows)
    assert "| rtb (`posterior.seed=0`) |" in t and "| real images of the class(es) | | 1 | 0 | 0 | 0.050 |" in t
    assert vc.verdicts({"rtb": _row(0.99, 3.0)}).startswith("RTB accuracy 0.990")    # one run: no prefix, no count
