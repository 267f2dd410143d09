"""bench/energies.py's variants: each is a valid config with the settings its name promises."""
import json
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "bench"))
import energies as bench  # noqa: E402

from rtb_lightning.config import load_config  # noqa: E402


@pytest.mark.parametrize("method", bench.METHODS)
def test_every_variant_is_a_valid_config(method):
    cfg = load_config(["domain=manywell", *bench.variant_overrides(method, 25000)])
    assert cfg.method.name == ("vargrad" if method.startswith("vargrad") else "tb")
    assert cfg.sampler.langevin == ("lp" in method.split("_"))
    assert cfg.sampler.local_search == method.endswith("_ls")
    assert cfg.exploration.std == (0.0 if method == "tb" else 2.0)
    # the published variants decay exploration over 5,000 steps; tb_expl_lp over the whole run
    if method != "tb":
        assert cfg.exploration.decay_steps == (25000 if method == "tb_expl_lp" else 5000)
    assert method in bench.LABELS


def test_table_prints_w2_beside_w2_sq_and_the_published_w2():
    row = dict(energy="gmm25", method="tb_expl_ls", log_z_error=0.15, log_z_iw_error=0.01, eubo_error=0.3,
               ess_frac=0.5, wall_s=10.0, energy_evals=1e6)
    rows = [{**row, "w2_sq": 1.44, "w2": 1.2}, {**row, "w2_sq": 1.0, "w2": 1.0}]
    line = next(l for l in bench.table(rows, ["gmm25"], ["tb_expl_ls"]).splitlines() if "TB+Expl.+LS" in l)
    assert "1.220±0.311" in line and "1.100±0.141" in line and line.endswith("0.171 / 0.004 / 1.25")
    old = bench.table([{**row, "w2_sq": 1.44}], ["gmm25"], ["tb_expl_ls"])     # results saved before the w2 key
    assert "n/a" in old and "published (dlogZ / dlogZ_IW / W2)" in old


def _fake_job(calls, fail_on=None):
    def job(energy, method, seed, steps, device, extra, threads, root):
        if (energy, method, seed) == fail_on:
            raise RuntimeError("killed")
        calls.append((energy, method, seed))
        return dict(energy=energy, method=method, seed=seed, steps=steps, log_z_error=0.1 * (seed + 1),
                    log_z_iw_error=0.01, w2_sq=1.0, w2=1.0, eubo_error=0.2, ess_frac=0.5, wall_s=1.0, energy_evals=10,
                    config=bench.config_digest(energy, method, steps, device, extra))
    return job


def test_resume_keeps_finished_runs_and_runs_only_the_missing_ones(tmp_path, monkeypatch, capsys):
    """The JSON is written after every run: an interrupted table keeps what finished, and --resume
    fills in only the rest."""
    out = tmp_path / "t.json"
    args = ["--energies", "gmm25", "--methods", "tb", "tb_expl", "--seeds", "2", "--steps", "5", "--json", str(out)]
    calls = []
    monkeypatch.setattr(bench, "_job", _fake_job(calls, fail_on=("gmm25", "tb_expl", 0)))
    with pytest.raises(RuntimeError, match="killed"):
        bench.main(args)
    saved = json.loads(out.read_text())
    assert [(r["method"], r["seed"]) for r in saved["runs"]] == [("tb", 0), ("tb", 1)] and saved["seeds"] == [0, 1]
    calls.clear()
    monkeypatch.setattr(bench, "_job", _fake_job(calls))
    bench.main([*args, "--resume"])
    assert calls == [("gmm25", "tb_expl", 0), ("gmm25", "tb_expl", 1)]
    assert len(json.loads(out.read_text())["runs"]) == 4
    assert "2 of 4 runs already" in capsys.readouterr().out
    calls.clear()
    bench.main([*args, "--resume", "--seeds", "3"])                # one more seed: only seed 2 runs
    assert calls == [("gmm25", "tb", 2), ("gmm25", "tb_expl", 2)]
    assert json.loads(out.read_text())["seeds"] == [0, 1, 2]


def test_resume_refuses_a_file_made_with_other_settings(tmp_path, monkeypatch):
    out = tmp_path / "t.json"
    monkeypatch.setattr(bench, "_job", _fake_job([]))
    bench.main(["--energies", "gmm25", "--methods", "tb", "--seeds", "1", "--steps", "5", "--json", str(out)])
    before = out.read_text()
    with pytest.raises(SystemExit, match="steps 5 there, 7 here"):
        bench.main(["--energies", "gmm25", "--methods", "tb", "--seeds", "1", "--steps", "7", "--json", str(out), "--resume"])
    assert out.read_text() == before                                # nothing already written is lost
    with pytest.raises(SystemExit):
        bench.main(["--resume"])                                    # --resume needs --json


def test_config_digest_is_per_cell_and_follows_the_resolved_config():
    a = bench.config_digest("gmm25", "tb", 100, "cpu", [])
    assert a == bench.config_digest("gmm25", "tb", 100, "cpu", [])
    assert a != bench.config_digest("gmm25", "tb_expl", 100, "cpu", [])
    assert a != bench.config_digest("gmm25", "tb", 100, "cpu", ["posterior.lr=0.002"])   # as a changed default would


def test_resume_refuses_to_add_seeds_to_a_cell_made_under_another_config(tmp_path, monkeypatch):
    out = tmp_path / "t.json"
    monkeypatch.setattr(bench, "_job", _fake_job([]))
    args = ["--energies", "gmm25", "--methods", "tb", "--steps", "5", "--json", str(out)]
    bench.main([*args, "--seeds", "1"])
    before = out.read_text()
    real = bench.config_digest
    monkeypatch.setattr(bench, "config_digest", lambda *a: real(*a[:4], ["posterior.lr=0.002"]))   # a default moved
    with pytest.raises(SystemExit, match="used another config"):
        bench.main([*args, "--seeds", "2", "--resume"])
    assert out.read_text() == before
