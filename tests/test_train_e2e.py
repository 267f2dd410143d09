"""End-to-end: train.py as a user runs it (subprocesses; outputs in tmp_path, never in the repo)."""
import json

import pytest
import torch

from .helpers import check_ok, run_train

pytestmark = pytest.mark.slow

METRIC_KEYS = ("emd", "mode_tv", "off_mode_frac", "mean_log_r", "log_z", "log_z_elbo", "log_z_iw")
ANALYTIC_SHORT = ["prior.kind=analytic", "posterior.init=residual", "trainer.max_steps=40",
                  "posterior.batch_size=128", "process.num_steps=20", "eval.num_samples=500",
                  "eval.every_n_steps=20", "posterior.log_z_init_samples=256", "trainer.enable_progress_bar=false"]



def test_short_posterior_run_beats_the_prior(tmp_path):
    run = tmp_path / "run"
    proc = run_train([*ANALYTIC_SHORT, f"run_dir={run}", f"cache_dir={tmp_path / 'cache'}"])
    check_ok(proc)
    metrics = json.loads((run / "metrics.json").read_text())
    for k in METRIC_KEYS:
        assert k in metrics and isinstance(metrics[k], float), k
    assert metrics["step"] == 40
    assert metrics["emd"] < metrics["prior_emd"]
    assert (run / "config.yaml").is_file()
    assert "max_steps: 40" in (run / "config.yaml").read_text()
    assert (run / "samples.png").stat().st_size > 0
    events = list(run.rglob("events.out.tfevents.*"))
    assert events, "no TensorBoard event file"
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    acc = EventAccumulator(str(events[0]))
    acc.Reload()
    tags = acc.Tags()
    assert {"train/loss", "train/log_z", "eval/emd", "eval/log_z_iw"} <= set(tags["scalars"]), tags["scalars"]
    assert "samples" in tags["images"]
    hparams = (events[0].parent / "hparams.yaml").read_text()
    assert "trainer.max_steps: 40" in hparams
    assert "final metrics" in proc.stdout
    # the checkpoint is written, loadable on CPU, carries log Z and the replay buffer, not the prior
    ckpt = torch.load(run / "checkpoints" / "last.ckpt", map_location="cpu", weights_only=False)
    assert "log_z.value" in ckpt["state_dict"] and "replay_buffer" in ckpt
    assert not any(k.startswith("prior.") for k in ckpt["state_dict"])
    assert not (tmp_path / "cache").exists() or not any((tmp_path / "cache").iterdir())   # analytic: no cache


def test_prior_is_trained_once_then_reused_from_cache(tmp_path):
    common = ["prior.kind=trained", "posterior.init=copy", "prior.steps=50", "prior.batch_size=256",
              "prior.network.hidden=32", "prior.network.layers=2", "trainer.max_steps=3", "posterior.batch_size=64",
              "process.num_steps=10", "eval.num_samples=100", "posterior.log_z_init_samples=64",
              "trainer.enable_progress_bar=false"]
    cache = tmp_path / "cache"

    first = run_train([*common, f"run_dir={tmp_path / 'r1'}", f"cache_dir={cache}"])
    check_ok(first)
    assert "no cached prior" in first.stdout                   # trained the first time
    cached = list(cache.glob("toy2d-prior-*.pt"))
    assert len(cached) == 1
    blob = cached[0].read_bytes()

    second = run_train([*common, f"run_dir={tmp_path / 'r2'}", f"cache_dir={cache}"])
    check_ok(second)
    assert "no cached prior" not in second.stdout              # reused, not retrained
    assert cached[0].read_bytes() == blob
    assert (tmp_path / "r2" / "metrics.json").is_file()

    # `stage=prior` writes the same cache entry that a posterior run looks up
    cache2 = tmp_path / "cache2"
    staged = run_train([*common, "stage=prior", f"run_dir={tmp_path / 'p'}", f"cache_dir={cache2}"])
    check_ok(staged)
    assert [p.name for p in cache2.glob("toy2d-prior-*.pt")] == [cached[0].name]
    assert (tmp_path / "p" / "config.yaml").is_file()


def test_max_time_stops_the_run_evaluated_and_seeded_buffer_is_checkpointed(tmp_path):
    run = tmp_path / "run"
    args = [a for a in ANALYTIC_SHORT if not a.startswith("trainer.max_steps")]
    proc = run_train([*args, "trainer.max_steps=1000000", "trainer.max_time=4", "buffer.seed_prior=300",
                      "buffer.capacity=100000", f"run_dir={run}", f"cache_dir={tmp_path / 'cache'}"])
    check_ok(proc)
    metrics = json.loads((run / "metrics.json").read_text())
    assert 0 < metrics["step"] < 1_000_000 and "emd" in metrics       # stopped by time, then evaluated
    assert "replay buffer seeded (each rank): 300 prior samples" in proc.stdout
    ckpt = torch.load(run / "checkpoints" / "last.ckpt", map_location="cpu", weights_only=False)
    # 300 seeds before step 0, then every step's new terminals (on-policy + prior rollouts)
    assert ckpt["global_step"] > 0
    assert len(ckpt["replay_buffer"][0]["x"]) >= 300 + ckpt["global_step"] * 64


def test_target_paths_run_end_to_end(tmp_path):
    run = tmp_path / "run"
    proc = run_train([*ANALYTIC_SHORT, "sampling.target=0.3", "sampling.target_nll=1", "sampling.target_proposals=2000",
                      f"run_dir={run}", f"cache_dir={tmp_path / 'cache'}"])
    check_ok(proc)
    assert "target paths (each rank): 2000 prior rollouts weighted by r^beta" in proc.stdout
    metrics = json.loads((run / "metrics.json").read_text())
    assert metrics["step"] == 40 and metrics["emd"] < metrics["prior_emd"]
