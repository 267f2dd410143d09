"""2-process DDP on CPU (gloo), launched as a subprocess script: DDP under pytest would re-run pytest."""
import json

import pytest

from .helpers import run_train

pytestmark = pytest.mark.slow


def test_two_process_ddp_run_on_cpu(tmp_path):
    run = tmp_path / "run"
    proc = run_train(["trainer.devices=2", "trainer.strategy=ddp", "trainer.accelerator=cpu",
                      "prior.kind=analytic", "posterior.init=residual", "trainer.max_steps=10",
                      "posterior.batch_size=64", "process.num_steps=10", "eval.num_samples=200",
                      "posterior.log_z_init_samples=64", "trainer.enable_progress_bar=false",
                      f"run_dir={run}", f"cache_dir={tmp_path / 'cache'}"], timeout=300)
    assert proc.returncode == 0, f"exit {proc.returncode}\nstdout:\n{proc.stdout[-3000:]}\nstderr:\n{proc.stderr[-5000:]}"
    assert "Traceback" not in proc.stderr
    metrics = json.loads((run / "metrics.json").read_text())
    assert metrics["step"] == 10
    assert metrics["world_size"] == 2
    assert metrics["log_z_spread_across_ranks"] == 0.0          # one log Z, kept identical by the all-reduce
    assert metrics["ranks_drew_distinct_samples"] is True       # per-rank seeds
    # metrics are computed on every rank's evaluation samples, gathered on rank 0
    assert metrics["eval_samples_per_rank"] == [100, 100] and metrics["eval_num_samples"] == 200
    assert proc.stdout.count("final metrics") == 1                # written and printed by rank 0 only
    assert len(list(run.rglob("metrics.json"))) == 1
    assert not list(run.glob("*.tmp")) and not list(run.glob(".*.tmp"))


def test_torchrun_launch_trains_the_prior_once_and_runs_ddp(tmp_path):
    """torchrun starts both ranks itself: rank 0 trains and caches the prior while rank 1 waits for it,
    the Trainer picks up torchrun's layout, and only rank 0 writes."""
    import os
    import subprocess
    import sys

    from .helpers import REPO

    run, cache = tmp_path / "run", tmp_path / "cache"
    env = {**{k: v for k, v in os.environ.items() if k != "RTB_RUN_DIR"}, "OMP_NUM_THREADS": "1",
           "PYTHONWARNINGS": "ignore"}
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2", "train.py",
           "trainer.accelerator=cpu", "prior.steps=30", "prior.batch_size=128", "prior.network.hidden=32",
           "trainer.max_steps=10", "posterior.batch_size=64", "process.num_steps=10", "eval.num_samples=200",
           "posterior.log_z_init_samples=64", "trainer.enable_progress_bar=false", "buffer.share_across_ranks=true",
           f"run_dir={run}", f"cache_dir={cache}"]
    proc = subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True, timeout=400)
    assert proc.returncode == 0, f"exit {proc.returncode}\nstdout:\n{proc.stdout[-3000:]}\nstderr:\n{proc.stderr[-5000:]}"
    assert proc.stdout.count("training it first") == 1            # one rank trained the prior
    assert len(list(cache.glob("*.pt"))) == 1
    metrics = json.loads((run / "metrics.json").read_text())
    assert metrics["world_size"] == 2 and metrics["step"] == 10
    assert metrics["log_z_spread_across_ranks"] == 0.0
    assert metrics["ranks_drew_distinct_samples"] is True
    assert proc.stdout.count("final metrics") == 1
