"""Every bad input gets one clear message before training starts: `train.py`'s cli() returns 2 and
prints 'error: <cause>' plus a hint, with no traceback (table-driven; each row is one mistake)."""
import importlib.util
import sys

import pytest
import torch

from rtb_lightning.builders import build_domain, build_network
from rtb_lightning.checkpoint_io import atomic_torch_save
from rtb_lightning.config import load_config
from rtb_lightning.prior_cache import prior_path, save_prior

from .helpers import REPO

FAST = ["prior.kind=analytic", "posterior.batch_size=16", "process.num_steps=6", "posterior.network.hidden=16",
        "posterior.network.layers=2", "trainer.max_steps=1", "trainer.enable_progress_bar=false"]


def _cli():
    spec = importlib.util.spec_from_file_location("train_cli", REPO / "train.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod.cli


def _incompatible_checkpoint(tmp):
    """A checkpoint of a posterior with 32 hidden units, resumed with 16."""
    from rtb_lightning.builders import build_posterior_run
    cfg = load_config([*FAST, "posterior.network.hidden=32", f"run_dir={tmp / 'other'}", f"cache_dir={tmp / 'c'}"])
    _, module, _ = build_posterior_run(cfg, tmp / "other")
    path = tmp / "other.ckpt"
    atomic_torch_save({"state_dict": {k: v for k, v in module.state_dict().items() if not k.startswith("prior.")}}, path)
    return [f"ckpt_path={path}"]


def _mismatched_cached_prior(tmp):
    """A cached prior file whose network does not match prior.network (e.g. edited by hand or copied)."""
    args = ["prior.kind=trained", "prior.network.hidden=16", "prior.network.layers=2", f"cache_dir={tmp / 'c'}"]
    cfg = load_config(args)
    wrong = build_network(load_config(["prior.network.hidden=8", "prior.network.layers=2"]).prior.network,
                          build_domain(cfg, "posterior"))
    save_prior(wrong, cfg, prior_path(cfg))
    return args


def _reward_with_wrong_shape(tmp):
    """A reward by import path that returns two numbers per sample."""
    (tmp / "shape_reward_mod.py").write_text("import torch\n\ndef two_columns(x):\n    return torch.zeros(len(x), 2)\n")
    sys.path.insert(0, str(tmp))
    return ["domain=digits", "reward.target=shape_reward_mod:two_columns", "prior.kind=trained"]


CASES = {
    # name: (argv or a function(tmp) -> argv, substrings of the message)
    "unknown key": (["trainer.max_step=5"], ["unknown config key 'trainer.max_step'", "trainer.max_steps"]),
    "wrong type": (["trainer.max_steps=many"], ["trainer.max_steps", "int"]),
    "unknown domain": (["domain=nosuch"], ["nosuch", "toy2d"]),
    "unknown method": (["method=nosuch"], ["nosuch", "rtb"]),
    "bad choice": (["process.kind=ou"], ["process.kind", "vp", "brownian"]),
    "missing config file": (["--config", "/nonexistent/cfg.yaml"], ["/nonexistent/cfg.yaml"]),
    "missing checkpoint": (["ckpt_path=/nonexistent/x.ckpt"], ["ckpt_path=/nonexistent/x.ckpt", "no such file"]),
    "last with no checkpoint": (["ckpt_path=last"], ["ckpt_path=last: no complete checkpoint"]),
    "incompatible checkpoint": (_incompatible_checkpoint, ["has shape", "in the checkpoint", "posterior.correction"]),
    "prior network mismatch": (_mismatched_cached_prior, ["does not fit the configured prior network"]),
    "copy of an analytic prior": (["posterior.init=copy"], ["posterior.init=copy needs a prior with parameters"]),
    "tb without backward kernel": (["method=tb", "process.kind=vp"], ["method=tb needs"]),
    "on-policy baseline off-policy": (["method=rl_kl", "sampling.buffer=0.5"], ["rl_kl is an on-policy"]),
    "missing data path": (["domain=mnist", "data.path=/nonexistent/mnist", "prior.kind=trained"],
                          ["data.path=/nonexistent/mnist is not a folder"]),
    "data path for a domain without data": (["data.path=/tmp"], ["does not read data.path"]),
    "reward cannot be imported": (["domain=digits", "reward.target=no_such_pkg.rewards:score", "prior.kind=trained"],
                                  ["cannot import module 'no_such_pkg.rewards'"]),
    "reward output of the wrong shape": (_reward_with_wrong_shape, ["returned (4, 2) for a batch of 4"]),
    "unknown embedded generator": (["domain=latent", "generator=nosuch"], ["generator=nosuch is not an embedded",
                                                                           "digits_vae"]),
    "renamed latent key": (["domain=latent", "domain.generator_target=a.b:c"], ["renamed to generator.target"]),
    "other stage on a generator domain": (["stage=prior", "domain=digits_vae"], ["does not run on domain=digits_vae"]),
}


@pytest.mark.parametrize("name", list(CASES))
def test_bad_input_is_one_clear_error(name, tmp_path, capsys):
    argv, expect = CASES[name]
    argv = argv(tmp_path) if callable(argv) else argv
    base = [a for a in FAST if a.split("=")[0] not in {x.split("=")[0] for x in argv}]
    code = _cli()([*base, *argv, f"run_dir={tmp_path / 'run'}", f"cache_dir={tmp_path / 'c'}"])
    err = capsys.readouterr().err
    assert code == 2, err
    assert err.startswith("error: ") and "Traceback" not in err
    for s in expect:
        assert s in err, f"{s!r} not in {err!r}"
    assert not (tmp_path / "run" / "checkpoints").exists()       # failed before training


def test_debug_flag_shows_the_traceback(tmp_path):
    with pytest.raises(Exception, match="trainer.max_step"):
        _cli()(["trainer.max_step=5", "debug=true", f"run_dir={tmp_path / 'run'}"])
