"""Fault handling: non-finite steps skipped then stopped, failing rewards retried or reported with the
batch saved, atomic checkpoints, and the choice/validation of the checkpoint to resume from."""
import os
import signal
import subprocess
import sys
import time

import pytest
import torch

from rtb_lightning.builders import build_posterior_run
from rtb_lightning.checkpoint_io import atomic_torch_save
from rtb_lightning.config import load_config
from rtb_lightning.errors import ConfigError, RewardError, UserError
from rtb_lightning.nonfinite_steps import NonFiniteSteps, NonFiniteTrainingError
from rtb_lightning.resume import check_compatible, resolve_checkpoint
from rtb_lightning.reward_guard import call_reward

from .helpers import REPO

TINY = ["prior.kind=analytic", "posterior.batch_size=16", "process.num_steps=6", "posterior.network.hidden=16",
        "posterior.network.layers=2", "posterior.log_z_init_samples=16", "eval.num_samples=50",
        "eval.every_n_steps=0", "trainer.enable_progress_bar=false"]


def _run(tmp_path, *extra):
    cfg = load_config([*TINY, f"run_dir={tmp_path / 'run'}",
                       f"cache_dir={tmp_path / 'cache'}", *extra])
    trainer, module, domain = build_posterior_run(cfg, tmp_path / "run")
    return trainer, module, domain


# ---- non-finite steps ----
def test_nonfinite_steps_counts_resets_and_stops_at_the_limit():
    m = NonFiniteSteps(max_consecutive=3)
    m.record(False, 1, False)
    m.record(False, 1, False)
    m.record(True, 1, True)                       # a good step resets the run of bad ones
    assert (m.total, m.consecutive) == (2, 0)
    m.record(False, 2, True)
    m.record(False, 2, True)
    with pytest.raises(NonFiniteTrainingError, match="3 consecutive .* non-finite gradients") as e:
        m.record(False, 2, True)
    assert "posterior.lr" in e.value.hint and m.total == 5


def test_zero_limit_never_stops():
    m = NonFiniteSteps(max_consecutive=0)
    for _ in range(100):
        m.record(False, 0, False)
    assert m.total == 100


def test_training_with_nan_loss_skips_steps_then_stops_without_applying_them(tmp_path):
    trainer, module, domain = _run(tmp_path, "faults.max_consecutive_nonfinite=3", "trainer.max_steps=20",
                                   "checkpoint.every_n_steps=1")
    module.on_fit_start = lambda: (module.log_z_ready.fill_(True), module.log_z.value.data.fill_(float("nan")))[0]
    before = {k: v.clone() for k, v in module.posterior.state_dict().items()}
    with pytest.raises(NonFiniteTrainingError, match="3 consecutive training batches .* a non-finite loss"):
        trainer.fit(module, datamodule=domain)
    for k, v in module.posterior.state_dict().items():
        assert torch.equal(v, before[k]), f"{k} changed although every step was non-finite"
    assert module.skipped_steps == 3
    assert not list((tmp_path / "run").rglob("*.ckpt"))        # no step was applied, nothing to save


def test_checkpoint_with_nonfinite_parameters_is_refused(tmp_path):
    _, module, _ = _run(tmp_path)
    sd = module.state_dict()
    sd["log_z.value"] = torch.tensor(float("nan"))
    with pytest.raises(UserError, match="non-finite parameters: log_z.value"):
        module.on_save_checkpoint({"state_dict": sd})


# ---- rewards that raise ----
def test_flaky_reward_is_retried():
    calls = []

    def flaky(x, cond=None):
        calls.append(1)
        if len(calls) == 1:
            raise ConnectionError("remote scorer timed out")
        return x.sum(1)

    out = call_reward(flaky, torch.ones(4, 2), None, name="r", step=7, retries=1)
    assert torch.equal(out, torch.full((4,), 2.0)) and len(calls) == 2


def test_failing_reward_names_the_step_and_saves_the_batch(tmp_path):
    _, module, _ = _run(tmp_path)

    def broken(x, cond=None):
        raise ValueError("bad input to the classifier")

    module.reward = broken
    with pytest.raises(RewardError, match=r"raised ValueError: bad input to the classifier at step 5") as e:
        module.reward_log_r(torch.randn(8, 2), step=5)
    saved = tmp_path / "run" / "reward_failure_step5_rank0.pt"
    assert str(saved) in e.value.message and "reward.retries" in e.value.hint
    batch = torch.load(saved)
    assert batch["x"].shape == (8, 2) and batch["step"] == 5 and "ValueError" in batch["error"]


# ---- atomic checkpoints ----
def test_failed_save_leaves_the_previous_checkpoint(tmp_path, monkeypatch):
    path = tmp_path / "last.ckpt"
    atomic_torch_save({"step": 1, "w": torch.ones(3)}, path)

    def crash(obj, f, *a, **k):
        f.write(b"partial bytes")
        raise OSError("disk full")

    monkeypatch.setattr(torch, "save", crash)
    with pytest.raises(OSError):
        atomic_torch_save({"step": 2}, path)
    monkeypatch.undo()
    assert torch.load(path)["step"] == 1
    assert [p.name for p in tmp_path.iterdir()] == ["last.ckpt"]         # the temporary file is gone


def test_sigkill_while_saving_leaves_a_loadable_checkpoint(tmp_path):
    path = tmp_path / "last.ckpt"
    code = ("import sys, torch\nsys.path.insert(0, %r)\nfrom rtb_lightning.checkpoint_io import atomic_torch_save\n"
            "w = torch.randn(4_000_000)\nfor i in range(10_000):\n    atomic_torch_save({'i': i, 'w': w}, %r)\n"
            % (str(REPO), str(path)))
    proc = subprocess.Popen([sys.executable, "-c", code])
    try:
        deadline = time.time() + 60
        while not path.exists() and time.time() < deadline:
            time.sleep(0.05)
        time.sleep(0.7)                                  # mid-way through later saves
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    ckpt = torch.load(path)
    assert ckpt["i"] >= 0 and ckpt["w"].shape == (4_000_000,)


# ---- which checkpoint to resume from ----
def _fake_ckpt(path, **extra):
    atomic_torch_save({"state_dict": {"log_z.value": torch.tensor(0.0)}, "global_step": 1, **extra}, path)


def test_ckpt_path_last_without_checkpoints_is_a_clear_error(tmp_path):
    with pytest.raises(ConfigError, match="ckpt_path=last: no complete checkpoint") as e:
        resolve_checkpoint("last", tmp_path)
    assert "run_dir=" in e.value.hint
    assert resolve_checkpoint("auto", tmp_path) == (None, None)


def test_ckpt_path_last_skips_a_truncated_newest_checkpoint(tmp_path):
    d = tmp_path / "checkpoints"
    d.mkdir()
    _fake_ckpt(d / "epoch=0-step=10.ckpt")
    time.sleep(0.02)
    (d / "last.ckpt").write_bytes((d / "epoch=0-step=10.ckpt").read_bytes()[:100])   # cut short elsewhere
    os.utime(d / "last.ckpt")
    path, ckpt = resolve_checkpoint("last", tmp_path)
    assert path.name == "epoch=0-step=10.ckpt" and ckpt["global_step"] == 1


def test_missing_or_damaged_explicit_checkpoint(tmp_path):
    with pytest.raises(ConfigError, match="no such file"):
        resolve_checkpoint(str(tmp_path / "nope.ckpt"), tmp_path)
    bad = tmp_path / "bad.ckpt"
    bad.write_text("not a checkpoint")
    with pytest.raises(ConfigError, match="cannot be loaded"):
        resolve_checkpoint(str(bad), tmp_path)


def test_incompatible_checkpoint_names_the_parameter_and_shapes(tmp_path):
    _, small, _ = _run(tmp_path)
    _, big, _ = _run(tmp_path, "posterior.network.hidden=32")
    ckpt = {"state_dict": {k: v for k, v in big.state_dict().items() if not k.startswith("prior.")}}
    with pytest.raises(ConfigError, match=r"posterior\.correction\.\S+ has shape \(32, ?\S*\) in the checkpoint"):
        check_compatible(small, ckpt, "x.ckpt")
    ckpt = {"state_dict": {k: v for k, v in small.state_dict().items() if not k.startswith("prior.")}}
    check_compatible(small, ckpt, "x.ckpt")        # its own checkpoint fits


@pytest.mark.parametrize("clip", [0.0, 1e-3])
def test_logged_grad_norm_is_the_norm_before_clipping(tmp_path, clip):
    trainer, module, domain = _run(tmp_path, "trainer.max_steps=1", f"posterior.grad_clip={clip}")
    seen = {}
    original = torch.optim.Adam.step

    def spy(self, *a, **k):                         # the gradient the optimizer is handed, after any clipping
        grads = [p.grad for g in self.param_groups for p in g["params"]
                 if p.grad is not None and any(p is q for q in module.posterior.parameters())]
        seen["applied"] = float(torch.linalg.vector_norm(torch.stack([g.norm() for g in grads])))
        seen["log_z"] = float(torch.linalg.vector_norm(torch.stack([p.grad.norm() for p in module.log_z.parameters()])))
        return original(self, *a, **k)
    torch.optim.Adam.step = spy
    try:
        trainer.fit(module, datamodule=domain)
    finally:
        torch.optim.Adam.step = original
    logged = float(trainer.callback_metrics["train/grad_norm"])
    assert logged > 0
    if clip:
        assert logged > 10 * clip and seen["applied"] == pytest.approx(clip, rel=1e-3)
        assert seen["log_z"] == pytest.approx(clip, rel=1e-3)    # log Z clipped too, on its own norm
    else:
        assert seen["applied"] == pytest.approx(logged, rel=1e-4)
