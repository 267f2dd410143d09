"""Path KLs of a posterior against its target p·r^β (rtb_lightning/metrics/path_kl.py, bench/path_kl.py)."""
import json
import math
import sys
from pathlib import Path

import pytest
import torch

from rtb_lightning.builders import build_posterior_run
from rtb_lightning.config import load_config
from rtb_lightning.metrics import log_ratio_steps, path_kl
from rtb_lightning.domains.toy2d import POSTERIOR_WEIGHTS

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "bench"))
import path_kl as bench_path_kl  # noqa: E402

# the toy: analytic 25-GMM prior, reward N9/p25 -> the target is the 9-GMM with these weights
TOY = ["domain=toy2d", "prior.kind=analytic", "process.num_steps=60", "posterior.chunk_size=7",
       "posterior.network.hidden=16", "posterior.network.layers=2"]


def _module(tmp_path):
    cfg = load_config([*TOY, f"run_dir={tmp_path / 'run'}"])
    _, module, domain = build_posterior_run(cfg, tmp_path / "run")
    return module.eval(), domain


def test_at_initialisation_the_forward_kl_is_the_targets_closed_form_kl_to_the_prior(tmp_path):
    module, domain = _module(tmp_path)
    torch.manual_seed(0)
    r = path_kl(module, domain.log_reward, 1.0, -1e4, n=400, proposals=3000)
    # the posterior is the prior: zero log-ratio at every step, on both kinds of trajectory
    assert r["kl_post_prior"] == 0 and r["target_log_ratio"] == 0
    assert max(map(abs, r["per_step_post"] + r["per_step_target"])) == 0
    # KL(target || prior) of the paths = that of the terminals = sum_i w_i log(25 w_i) over the 9 modes
    w = torch.tensor(POSTERIOR_WEIGHTS, dtype=torch.float64) / sum(POSTERIOR_WEIGHTS)
    exact = (w * (25 * w).log()).sum().item()
    assert r["forward_kl"] == r["kl_target_prior"] == pytest.approx(exact, abs=0.1)
    assert abs(r["target_log_z"]) < 0.1                   # the prior's chain puts 1/25 on each mode
    assert len(r["per_step_post"]) == 60


def test_per_step_log_ratios_sum_to_the_scorers_trajectory_log_ratio(tmp_path):
    module, domain = _module(tmp_path)
    with torch.no_grad():
        for p in module.posterior.parameters():
            p.add_(0.3 * torch.randn_like(p))
    torch.manual_seed(1)
    sc = module.scorer
    states, log_pf, base = sc.sample_posterior(32)
    d = log_ratio_steps(sc, states, base)
    assert d.shape == (32, 60)
    torch.testing.assert_close(d.sum(1), log_pf - sc.log_ref(states, None, base), rtol=1e-4, atol=1e-4)
    torch.testing.assert_close(d, log_ratio_steps(sc, states), rtol=1e-5, atol=1e-5)   # prior recomputed, not reused
    # a moved posterior: pays KL to the prior, and the target's paths lose probability under it
    r = path_kl(module, domain.log_reward, 1.0, -1e4, n=300, proposals=2000)
    assert r["kl_post_prior"] > 0 and r["forward_kl"] > 0
    assert sum(r["per_step_post"]) == pytest.approx(r["kl_post_prior"], rel=1e-4)


def test_bench_script_prints_and_writes_both_tables(tmp_path, capsys):
    module, _ = _module(tmp_path)
    ckpt = tmp_path / "a.ckpt"
    torch.save({"state_dict": {k: v for k, v in module.state_dict().items() if not k.startswith("prior.")}}, ckpt)
    rows = bench_path_kl.main(["--ckpt", str(ckpt), "--num-samples", "50", "--proposals", "200", "--json",
                               str(tmp_path / "out.json"), *TOY])
    out = capsys.readouterr().out
    assert "forward KL(target‖post)" in out and "| 59 |" in out
    saved = json.loads((tmp_path / "out.json").read_text())["rows"][str(ckpt)]
    assert saved["forward_kl"] == pytest.approx(rows[str(ckpt)]["forward_kl"]) and math.isfinite(saved["forward_kl"])
    with pytest.raises(SystemExit, match="not found"):
        bench_path_kl.main(["--ckpt", str(tmp_path / "missing.ckpt"), *TOY])


def test_bench_script_refuses_an_energy_sampler(tmp_path):
    small = ["domain=gmm25", "method=tb", "process.num_steps=5", "posterior.network.hidden=16", "posterior.network.layers=2"]
    cfg = load_config([*small, f"run_dir={tmp_path / 'run'}"])
    _, module, _ = build_posterior_run(cfg, tmp_path / "run")
    ckpt = tmp_path / "e.ckpt"
    torch.save({"state_dict": module.state_dict()}, ckpt)
    with pytest.raises(bench_path_kl.UserError, match="log_z_repeats"):
        bench_path_kl.main(["--ckpt", str(ckpt), *small])


def test_overrides_after_the_checkpoints_are_not_taken_for_checkpoints(tmp_path):
    from rtb_lightning.trained_module import split_checkpoint_args

    lightning_name = "runs/a/checkpoints/epoch=0-step=300.ckpt"
    ckpts, overrides = split_checkpoint_args([lightning_name, "b.ckpt", "domain=digits", "sampler.langevin_at=noisy"],
                                             ["seed=1"])
    assert ckpts == [lightning_name, "b.ckpt"]
    assert overrides == ["domain=digits", "sampler.langevin_at=noisy", "seed=1"]
