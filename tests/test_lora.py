"""posterior.init=lora: peft adapters on a copy of the UNet prior (optional extra)."""
import sys
from types import SimpleNamespace

import pytest
import torch

from rtb_lightning.builders import build_posterior
from rtb_lightning.config import load_config
from rtb_lightning.errors import ConfigError, UserError
from rtb_lightning.module import RTBLightningModule
from rtb_lightning.networks import TimeUNet
from rtb_lightning.processes import VPProcess

DOMAIN = SimpleNamespace(num_classes=10, event_shape=(1, 8, 8), name="digits")


def _setup(*extra):
    cfg = load_config(["domain=digits", "posterior.init=lora", "posterior.lora.rank=2", *extra])
    torch.manual_seed(0)
    prior = TimeUNet((1, 8, 8), channels=8, channel_mult=(1, 2), time_dim=16)
    process = VPProcess((1, 8, 8), num_steps=4, num_train_steps=100)
    return cfg, prior, process


def test_missing_peft_names_the_package(monkeypatch):
    cfg, prior, process = _setup()
    monkeypatch.setitem(sys.modules, "peft", None)          # import peft -> ImportError
    with pytest.raises(UserError, match="pip install peft"):
        build_posterior(cfg, prior, DOMAIN, process)


def test_lora_starts_at_the_prior_and_trains_only_adapters():
    pytest.importorskip("peft")
    cfg, prior, process = _setup()
    post = build_posterior(cfg, prior, DOMAIN, process)
    x, t = torch.randn(5, 1, 8, 8), torch.rand(5)
    with torch.no_grad():
        assert torch.equal(post(x, t), prior(x, t))
    trainable = {n for n, p in post.named_parameters() if p.requires_grad}
    assert trainable and all("lora_" in n for n in trainable)
    assert any(n.endswith("conv1.lora_A.default.weight") for n in trainable)
    frozen = {n: p.detach().clone() for n, p in post.named_parameters() if not p.requires_grad}

    def reward(x, cond=None):            # prefers bright images: the posterior must move
        return x.flatten(1).mean(1) * 5.0
    module = RTBLightningModule(process, prior, post, reward, batch_size=16, lr=0.01, log_z_init_samples=16)
    opt = module.configure_optimizers()
    for step in range(3):
        opt.zero_grad()
        module.accumulate_gradients(None, step)
        assert all(p.grad is None for n, p in post.named_parameters() if n in frozen)
        opt.step()
    assert all(torch.equal(p, frozen[n]) for n, p in post.named_parameters() if n in frozen)
    with torch.no_grad():
        assert not torch.allclose(post(x, t), prior(x, t))
    assert all(not p.requires_grad for p in prior.parameters()) and "lora" not in str(prior)


@pytest.mark.parametrize("extra,match", [
    (["posterior.lora.target_modules=[nope]"], "must name Linear/Conv2d layers"),
    (["posterior.lora.rank=0"], "rank must be >= 1"),
    (["posterior.conditional=true"], "unconditional posterior"),
])
def test_lora_config_errors(extra, match):
    pytest.importorskip("peft")
    cfg, prior, process = _setup(*extra)
    with pytest.raises(ConfigError, match=match):
        build_posterior(cfg, prior, DOMAIN, process)
