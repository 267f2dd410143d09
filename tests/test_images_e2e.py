"""End-to-end on digits (and MNIST from a tiny IDX folder): classifiers -> prior -> RTB posterior, conditional posterior, baselines.

Tiny settings (a few-step prior and classifiers) so the run takes seconds; the test is that the
plumbing works and that training moves reward in the right direction, not image quality.
"""
import json

import pytest
import torch

from .helpers import check_ok, run_train

pytestmark = pytest.mark.slow
pytest.importorskip("sklearn")

TINY = ["domain=digits", "prior.steps=400", "prior.batch_size=64", "prior.network.channels=8",
        "classifier.steps=200", "classifier.channels=8", "process.num_steps=10", "posterior.batch_size=32",
        "eval.num_samples=300", "eval.every_n_steps=15", "posterior.log_z_init_samples=64",
        "trainer.enable_progress_bar=false", "posterior.lr=0.005"]



@pytest.fixture(scope="module")
def cache(tmp_path_factory):
    return tmp_path_factory.mktemp("cache")


def test_digits_posterior_beats_the_prior(tmp_path, cache):
    # The classifier reward is exercised by the other runs; with a few-step prior and classifier its
    # signal is too weak for a seconds-long run, so this one trains against a smooth reward given
    # by import path (ink: mean pixel value), which also tests reward.target end to end.
    (tmp_path / "ink_reward.py").write_text("def ink(x):\n    return 4.0 * x.flatten(1).mean(1)\n")
    run = tmp_path / "run"
    proc = run_train([*TINY, "trainer.max_steps=40", "reward.target=ink_reward:ink", f"run_dir={run}",
                      f"cache_dir={cache}"], env_extra={"PYTHONPATH": str(tmp_path)})
    check_ok(proc)
    m = json.loads((run / "metrics.json").read_text())
    for k in ("mean_log_r", "eval_accuracy", "fid", "diversity", "log_z"):
        assert isinstance(m[k], float), k
    assert m["mean_log_r"] > m["prior_mean_log_r"] + 0.3
    assert (run / "samples.png").stat().st_size > 0
    # a reward by import path needs no reward classifier: only the evaluation classifier and the prior
    assert sorted(p.name.split("-")[2] if "classifier" in p.name else "prior" for p in cache.glob("digits-*.pt")) == ["eval", "prior"]


def test_digits_conditional_posterior_and_baselines(tmp_path, cache):
    run = tmp_path / "cond"
    check_ok(run_train([*TINY, "posterior.conditional=true", "trainer.max_steps=10", f"run_dir={run}",
                      f"cache_dir={cache}"]))
    m = json.loads((run / "metrics.json").read_text())
    assert {f"eval_accuracy_c{c}" for c in range(10)} <= set(m) and "fid_c3" in m and "mean_log_r_c3" in m
    run = tmp_path / "dps"
    proc = run_train([*TINY, "method=dps", "method.guidance_scales=[0,2]", f"run_dir={run}", f"cache_dir={cache}"])
    check_ok(proc)
    m = json.loads((run / "metrics.json").read_text())
    assert [r["scale"] for r in m["sweep"]] == [0.0, 2.0]
    assert m["sweep"][1]["mean_log_r"] > m["sweep"][0]["mean_log_r"]
    assert (run / "samples_scale2.png").is_file()
    run = tmp_path / "ddpo"
    check_ok(run_train([*TINY, "method=ddpo", "trainer.max_steps=3", f"run_dir={run}", f"cache_dir={cache}"]))
    assert (run / "metrics.json").is_file()


def test_digits_target_by_importance_resampling(tmp_path, cache):
    run = tmp_path / "sir"
    check_ok(run_train([*TINY, "method=sir", "method.proposals=1200", f"run_dir={run}", f"cache_dir={cache}"]))
    m = json.loads((run / "metrics.json").read_text())
    for k in ("mean_log_r", "eval_accuracy", "fid", "diversity", "log_z", "ess"):
        assert isinstance(m[k], float), k
    assert 1 <= m["ess"] <= 1200 and m["unique"] <= 300 and m["proposals"] == 1200
    assert m["log_z"] <= 0                       # log mean r^beta with r <= 1
    assert m["mean_log_r"] > m["prior_mean_log_r"]
    assert (run / "samples.png").stat().st_size > 0


def test_image_repeats_bench_evaluates_a_checkpoint_and_a_baseline_on_repeated_sets(tmp_path, cache, capsys):
    import sys
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "bench"))
    import image_repeats

    run = tmp_path / "rtb"
    check_ok(run_train([*TINY, "trainer.max_steps=3", f"run_dir={run}", f"cache_dir={cache}"]))
    ckpt = str(run / "checkpoints" / "last.ckpt")
    out = tmp_path / "rep.json"
    rows = image_repeats.main(["--ckpt", ckpt, "--guidance", "dps:2", "--repeats", "3", "--num-samples", "40",
                               "--resample", "2", "--json", str(out), *TINY, f"cache_dir={cache}"])
    assert list(rows) == [ckpt, f"{ckpt} + SIR k=2", "dps (scale 2)", "dps (scale 2) + SIR k=2"]
    for name in (f"{ckpt} + SIR k=2", "dps (scale 2) + SIR k=2"):
        st = rows[name]["resampling"]
        assert st["k"] == 2 and 1 <= st["mean_ess"] <= 2 and st["rows_without_weight"] == 0
    for r in rows.values():
        assert len(r["sets"]) == 3
        acc = [s["eval_accuracy"] for s in r["sets"]]
        # equal-sized sets: the pooled accuracy is the mean of the sets'
        assert abs(r["pooled"]["eval_accuracy"] - sum(acc) / 3) < 1e-6
        assert abs(r["summary"]["fid"]["mean"] - sum(s["fid"] for s in r["sets"]) / 3) < 1e-6
        real = {s["real_diversity"] for s in r["sets"]}             # the reference: one value, the real images'
        assert len(real) == 1 and real.pop() > 0
    saved = json.loads(out.read_text())
    assert saved["repeats"] == 3 and saved["num_samples"] == 40
    assert set(saved["verdicts"]) == {ckpt, f"{ckpt} + SIR k=2"}     # the posterior's rows, judged against the rest
    assert "dps (scale 2)" in capsys.readouterr().out
    with pytest.raises(SystemExit, match="method:scale"):
        image_repeats.main(["--guidance", "dps", *TINY])
    with pytest.raises(SystemExit, match="--resample 1"):
        image_repeats.main(["--guidance", "dps:1", "--resample", "1", *TINY])
    with pytest.raises(SystemExit, match="not found"):
        image_repeats.main(["--ckpt", str(tmp_path / "nope.ckpt"), *TINY])


def test_image_tail_bench_reports_a_checkpoints_off_class_tail(tmp_path, cache):
    import sys
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "bench"))
    import image_tail

    run = tmp_path / "rtb"
    check_ok(run_train([*TINY, "trainer.max_steps=2", f"run_dir={run}", f"cache_dir={cache}"]))
    out = tmp_path / "tail.json"
    r = image_tail.main(["--ckpt", str(run / "checkpoints" / "last.ckpt"), "--num-samples", "60", "--batch", "25",
                         "--json", str(out), *TINY, f"cache_dir={cache}"])
    assert r["n"] == 60 and r["classes"] == [3] and 0 <= r["off_class"] <= 60
    assert len(r["in_set_by_step_in_class"] or r["in_set_by_step_off_class"]) == 10      # process.num_steps
    assert json.loads(out.read_text())["off_class"] == r["off_class"]
    with pytest.raises(SystemExit, match="not found"):
        image_tail.main(["--ckpt", str(tmp_path / "nope.ckpt"), *TINY])


def test_mnist_posterior_from_a_folder_with_the_digits_recipe(tmp_path):
    """domain=mnist's own defaults (both Langevin terms, noisier reward classifier) end to end on a tiny
    IDX folder at the 14x14 working size: prior, both classifiers, RTB steps, metrics."""
    from .test_image_data import _tiny_mnist

    data = _tiny_mnist(tmp_path / "mnist", n=200)
    run = tmp_path / "run"
    check_ok(run_train(["domain=mnist", f"data.path={data}", "prior.steps=30", "prior.batch_size=32",
                        "prior.network.channels=8", "classifier.steps=20", "classifier.channels=8",
                        "process.num_steps=6", "posterior.batch_size=16", "posterior.log_z_init_samples=32",
                        "eval.num_samples=60", "eval.every_n_steps=4", "trainer.max_steps=4",
                        "trainer.enable_progress_bar=false", f"run_dir={run}", f"cache_dir={tmp_path / 'cache'}"]))
    m = json.loads((run / "metrics.json").read_text())
    for k in ("mean_log_r", "eval_accuracy", "fid", "diversity", "log_z"):
        assert isinstance(m[k], float), k
    names = sorted(p.name.split("-")[1] + ("-" + p.name.split("-")[2] if "classifier" in p.name else "")
                   for p in (tmp_path / "cache").glob("mnist-*.pt"))
    assert names == ["classifier-eval", "classifier-reward", "prior"]
    state = torch.load(run / "checkpoints" / "last.ckpt", map_location="cpu", weights_only=False)["state_dict"]
    # both terms, each with its own s(t): the noisy state's (inside the correction) and the estimate's
    assert any(k.startswith("posterior.correction.scale.") for k in state)
    assert any(k.startswith("posterior.guidance.scale.") for k in state)
