"""One `train.py` run in a fresh process, for the benchmark scripts: returns (metrics.json, wall s)."""
import json
import os
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def train_run(args, run_dir, env=None):
    """env: extra environment variables for the run (e.g. OMP_NUM_THREADS)."""
    env = {**os.environ, "PYTHONWARNINGS": "ignore", **(env or {})}
    env.pop("RTB_RUN_DIR", None)
    t0 = time.time()
    proc = subprocess.run([sys.executable, "train.py", *args, f"run_dir={run_dir}", "trainer.enable_progress_bar=false"],
                          cwd=REPO, env=env, capture_output=True, text=True)
    if proc.returncode:
        raise SystemExit(f"train.py {' '.join(args)} failed:\n{proc.stderr[-3000:]}")
    path = Path(run_dir) / "metrics.json"
    return (json.loads(path.read_text()) if path.is_file() else {}), time.time() - t0
