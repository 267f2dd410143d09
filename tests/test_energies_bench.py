"""bench/energies.py's variants: each is a valid config with the settings its name promises."""
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
