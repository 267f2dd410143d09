"""bench/toy2d_seeds.py: the posterior's own mode TV on many samples, and the share of 2,000-sample sets meeting 0.06."""
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "bench"))
import toy2d_seeds  # noqa: E402
from rtb_lightning.domains.toy2d import Toy2D  # noqa: E402


def _fake_sampler(monkeypatch, draw):
    domain = Toy2D(scale=2.5)
    module = SimpleNamespace(sample=lambda n: (draw(domain, n).div(domain.scale)[:, None], None))
    monkeypatch.setattr(toy2d_seeds, "load_trained_module", lambda overrides, ckpt: (module, domain, None))


def test_exact_target_samples_score_near_zero_tv_and_meet_the_target_in_every_set(monkeypatch):
    _fake_sampler(monkeypatch, lambda d, n: d.target_gmm.sample(n))
    out = toy2d_seeds.large_sample_scores([], "unused.ckpt", 20000)
    assert out["mode_tv_large"] < 0.015 and out["sets_meeting_tv"] == 1.0 and len(out["set_tvs"]) == 10
    assert all(0 < v < 0.06 for v in out["set_tvs"])                  # 2,000 exact samples: noise of about 0.03


def test_prior_samples_score_the_priors_tv_and_meet_it_in_no_set(monkeypatch):
    _fake_sampler(monkeypatch, lambda d, n: d.prior_gmm.sample(n))
    out = toy2d_seeds.large_sample_scores([], "unused.ckpt", 6000)
    assert out["mode_tv_large"] == pytest.approx(0.64, abs=0.02)      # 16 of 25 equal modes carry no target mass
    assert out["sets_meeting_tv"] == 0.0 and len(out["set_tvs"]) == 3


def test_main_runs_default_first_counts_met_runs_and_writes_json_where_asked(monkeypatch, tmp_path, capsys):
    calls = []

    def fake_one(name, overrides, seed, threads, large, root):
        calls.append((name, overrides, seed))
        tv = 0.05 if name == "default" else 0.07
        return {"config": name, "seed": seed, "wall_s": 1.0, "emd": 0.5, "mode_tv": tv, "off_mode_frac": 0.01,
                "met": {"emd": True, "mode_tv": tv <= 0.06, "off_mode_frac": True}, "mode_tv_large": tv - 0.01,
                "sets_meeting_tv": 0.5}

    monkeypatch.setattr(toy2d_seeds, "one", fake_one)
    monkeypatch.chdir(tmp_path)                                        # --json is relative to where it is called
    toy2d_seeds.main(["--seeds", "0", "1", "--config", "old", "prior.steps=4000 trainer.max_steps=800",
                      "--json", "out.json"])
    assert calls == [("default", [], 0), ("default", [], 1), ("old", ["prior.steps=4000", "trainer.max_steps=800"], 0),
                     ("old", ["prior.steps=4000", "trainer.max_steps=800"], 1)]
    out = capsys.readouterr().out
    assert "default: all targets met in 2 of 2 runs" in out and "old: all targets met in 0 of 2 runs" in out
    data = __import__("json").loads((tmp_path / "out.json").read_text())
    assert data["configs"]["old"] == ["prior.steps=4000", "trainer.max_steps=800"] and len(data["rows"]) == 4


def test_no_default_runs_only_the_named_configs_and_needs_one(monkeypatch, tmp_path):
    calls = []
    monkeypatch.setattr(toy2d_seeds, "one", lambda name, overrides, seed, *a: calls.append((name, seed)) or {
        "config": name, "seed": seed, "wall_s": 1.0, "emd": 0.5, "mode_tv": 0.05, "off_mode_frac": 0.01,
        "met": {"emd": True, "mode_tv": True, "off_mode_frac": True}, "mode_tv_large": 0.04, "sets_meeting_tv": 1.0})
    monkeypatch.chdir(tmp_path)
    toy2d_seeds.main(["--seeds", "2", "--no-default", "--config", "wide", "posterior.network.hidden=128"])
    assert calls == [("wide", 2)]
    with pytest.raises(SystemExit, match="nothing to run"):
        toy2d_seeds.main(["--no-default"])
