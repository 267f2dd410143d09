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
