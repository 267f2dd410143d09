"""bench/log_z_repeats.py: per-set and pooled log Z errors, and loading a checkpoint the way train.py builds it."""
import json
import math
import sys
from pathlib import Path

import pytest
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "bench"))
import log_z_repeats as lzr  # noqa: E402

SMALL = ["domain=gmm25", "method=tb", "process.num_steps=5", "posterior.network.hidden=16", "posterior.network.layers=2"]


def test_repeat_errors_slices_and_pools():
    torch.manual_seed(0)
    log_z = 1.5
    log_w = log_z - 0.5 + torch.randn(3 * 400, dtype=torch.float64)     # Var 1: ELBO error 0.5 per set in expectation
    r = lzr.repeat_errors(log_w, log_z, 3)
    for i in range(3):
        s = log_w[400 * i: 400 * (i + 1)]
        assert r["elbo_errors"][i] == pytest.approx(abs(log_z - s.mean().item()))
        assert r["iw_errors"][i] == pytest.approx(abs(log_z - (torch.logsumexp(s, 0).item() - math.log(400))))
    # log-normal weights with mean log w = log Z - σ²/2 are unbiased in w: the pooled IW estimate is close to log Z
    assert r["pooled_iw_error"] == pytest.approx(abs(log_z - (torch.logsumexp(log_w, 0).item() - math.log(1200))))
    assert r["pooled_iw_error"] < 0.15 < min(r["elbo_errors"])
    assert r["pooled_n"] == 1200
    exact = lzr.repeat_errors(torch.full((20,), log_z, dtype=torch.float64), log_z, 4)      # a perfect sampler
    assert max(exact["elbo_errors"] + exact["iw_errors"]) < 1e-12


def test_main_loads_a_checkpoint_and_matches_the_module_it_saved(tmp_path):
    from rtb_lightning.builders import build_posterior_run
    from rtb_lightning.config import load_config

    cfg = load_config([*SMALL, f"run_dir={tmp_path / 'run'}"])
    _, module, domain = build_posterior_run(cfg, tmp_path / "run")
    with torch.no_grad():
        for p in module.posterior.parameters():
            p.add_(0.05 * torch.randn_like(p))          # not the zero-initialised network the loader builds
    ckpt = tmp_path / "a.ckpt"
    torch.save({"state_dict": {k: v for k, v in module.state_dict().items() if not k.startswith("prior.")}}, ckpt)
    other = tmp_path / "b.ckpt"
    other.write_bytes(ckpt.read_bytes())
    rows = lzr.main(["--ckpt", str(ckpt), "--ckpt", str(other), "--repeats", "2", "--num-samples", "64", "--json",
                     str(tmp_path / "out.json"), *SMALL])
    assert list(rows) == [str(ckpt), str(other)]        # a repeated --ckpt adds, it does not replace
    # the same seed through the saved module itself gives the same log-weights
    torch.manual_seed(0)
    log_w, x = lzr.log_weights(module.eval(), 128, terminals=True)
    expected = lzr.repeat_errors(log_w, domain.log_z, 2)
    assert rows[str(ckpt)]["iw_errors"] == pytest.approx(expected["iw_errors"])
    assert rows[str(ckpt)]["max_abs"] == pytest.approx([x[:64].abs().max().item(), x[64:].abs().max().item()])
    assert json.loads((tmp_path / "out.json").read_text())["rows"][str(ckpt)]["pooled_n"] == 128


def test_checkpoint_of_another_shape_is_a_clear_error(tmp_path):
    from rtb_lightning.builders import build_posterior_run
    from rtb_lightning.config import load_config

    cfg = load_config([*SMALL, f"run_dir={tmp_path / 'run'}"])
    _, module, _ = build_posterior_run(cfg, tmp_path / "run")
    ckpt = tmp_path / "a.ckpt"
    torch.save({"state_dict": module.state_dict()}, ckpt)
    with pytest.raises(lzr.UserError, match="does not fit the config"):
        lzr.load_module([*SMALL[:-1], "posterior.network.layers=3"], ckpt)
    with pytest.raises(lzr.UserError, match="does not fit the config"):
        lzr.load_module([*SMALL[:-2], "posterior.network.hidden=8", "posterior.network.layers=2"], ckpt)
    with pytest.raises(SystemExit, match="not found"):
        lzr.main(["--ckpt", str(tmp_path / "missing.ckpt"), *SMALL])


def test_mean_and_std_skip_and_count_non_finite_sets():
    assert lzr._ms([1.0, 3.0]) == "2.000 ± 1.414"
    assert lzr._ms([1.0, 3.0, float("inf")]) == "2.000 ± 1.414 (1 of 3 non-finite)"
    assert lzr._ms([float("nan")]) == "n/a (1 of 1 non-finite)"


def test_largest_coordinate_per_set_shows_an_escaped_sample():
    x = torch.zeros(6, 2)
    x[1, 0], x[4, 1] = -3.0, float("nan")                      # set 0 holds -3; set 1 an overflowed sample
    assert lzr.repeat_max_abs(x, 2) == [3.0, math.inf]


def test_repeat_w2_reads_a_shift_above_the_exact_floor():
    from rtb_lightning.domains.energies import GMM25

    d = GMM25()
    exact = d.sample(2 * 1000, generator=torch.Generator().manual_seed(5))
    r = lzr.repeat_w2(exact, d, 2)
    assert len(r["w2_sq"]) == len(r["w2_sq_floor"]) == 2
    # exact samples sit at the floor's level; a translation by (2, 0) adds about 4 to every set (W2² >= |shift|²)
    assert abs(sum(r["w2_sq"]) - sum(r["w2_sq_floor"])) / 2 < 1.0
    shifted = lzr.repeat_w2(exact + torch.tensor([2.0, 0.0]), d, 2)
    assert min(shifted["w2_sq"]) > 4.0 > max(r["w2_sq"])
    assert shifted["w2_sq_floor"] == r["w2_sq_floor"]          # the floor's draws depend only on the seed
    assert shifted["w2"] == pytest.approx([v ** 0.5 for v in shifted["w2_sq"]])
    assert r["w2_floor"] == pytest.approx([v ** 0.5 for v in r["w2_sq_floor"]])


def test_main_with_w2_writes_per_set_w2_and_floor(tmp_path):
    from rtb_lightning.builders import build_posterior_run
    from rtb_lightning.config import load_config

    cfg = load_config([*SMALL, f"run_dir={tmp_path / 'run'}"])
    _, module, _ = build_posterior_run(cfg, tmp_path / "run")
    ckpt = tmp_path / "a.ckpt"
    torch.save({"state_dict": {k: v for k, v in module.state_dict().items() if not k.startswith("prior.")}}, ckpt)
    rows = lzr.main(["--ckpt", str(ckpt), "--repeats", "2", "--num-samples", "50", "--w2", *SMALL])
    r = rows[str(ckpt)]
    assert len(r["w2_sq"]) == len(r["w2_sq_floor"]) == 2 and all(v > 0 for v in r["w2_sq"] + r["w2_sq_floor"])
