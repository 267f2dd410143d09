"""Helpers shared by the tests (imported as `from .helpers import ...`)."""
import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def tiny_net(event_shape=(2,), **kw):
    """A small, randomly initialised (non-zero output) time-conditioned MLP."""
    from rtb_lightning.networks import TimeMLP

    kw = {"hidden": 16, "layers": 2, "time_dim": 8, **kw}
    return TimeMLP(event_shape, **kw)


def run_train(args, cwd=REPO, timeout=600, env_extra=None):
    """Run `python train.py ARGS` as a subprocess; returns the CompletedProcess (text mode)."""
    env = {k: v for k, v in os.environ.items() if k != "RTB_RUN_DIR"}
    env.update(env_extra or {})
    env.setdefault("PYTHONWARNINGS", "ignore")
    # One intra-op thread per process: the networks are tiny, and on a busy 2-core machine (CI,
    # DDP's two ranks) spinning thread pools make runs many times slower.
    env.setdefault("OMP_NUM_THREADS", "1")
    return subprocess.run([sys.executable, "train.py", *args], cwd=cwd, env=env, capture_output=True,
                          text=True, timeout=timeout)


def check_ok(proc):
    """Assert a train.py subprocess exited 0, showing the ends of its output otherwise."""
    assert proc.returncode == 0, f"exit {proc.returncode}\nstdout:\n{proc.stdout[-3000:]}\nstderr:\n{proc.stderr[-3000:]}"
