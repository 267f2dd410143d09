"""bench/ema_posthoc.py: the EMA of the posterior's weights over a run's periodic checkpoints."""
import sys
from pathlib import Path

import pytest
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "bench"))
import ema_posthoc  # noqa: E402


def _save(path, w, log_z, steps=None):
    torch.save({"state_dict": {"posterior.w": torch.tensor(w), "posterior.n": torch.tensor(3),
                               "log_z.value": torch.tensor(log_z)}, "global_step": steps}, path)


def test_ema_over_checkpoints_in_step_order_replaces_only_the_posteriors_float_tensors(tmp_path):
    d = tmp_path / "checkpoints"
    d.mkdir()
    for step, w in [(10, 3.0), (5, 1.0), (15, 7.0)]:     # written out of order: the step in the name decides
        _save(d / f"epoch=0-step={step}.ckpt", [w], float(step))
    _save(d / "last.ckpt", [7.0], 15.0, steps=15)
    ema_posthoc.main(tmp_path, [0.5, 0.0])
    out = torch.load(d / "ema0.5.ckpt", weights_only=False)
    # steps 5, 10, 15: 1 -> 2 -> 4.5; name order (10, 15, 5) would give 3 -> 5 -> 3
    assert out["state_dict"]["posterior.w"].item() == pytest.approx(4.5)
    assert out["state_dict"]["posterior.n"].item() == 3 and out["state_dict"]["log_z.value"].item() == 15.0
    assert out["global_step"] == 15
    assert torch.load(d / "ema0.ckpt", weights_only=False)["state_dict"]["posterior.w"].item() == 7.0


def test_refuses_a_run_without_periodic_checkpoints_or_a_stale_last(tmp_path):
    d = tmp_path / "checkpoints"
    d.mkdir()
    _save(d / "last.ckpt", [1.0], 0.0)
    with pytest.raises(SystemExit, match="checkpoint.keep=-1"):
        ema_posthoc.main(tmp_path, [0.5])
    _save(d / "epoch=0-step=5.ckpt", [1.0], 0.0)
    _save(d / "epoch=0-step=10.ckpt", [2.0], 0.0)
    with pytest.raises(SystemExit, match="not the newest"):
        ema_posthoc.main(tmp_path, [0.5])
