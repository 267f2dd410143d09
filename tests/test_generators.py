"""Embedded generators (stage=generator: digits VAE and RealNVP flow) and their use by domain=latent."""
import json
import math
import shutil

import pytest
import torch

from rtb_lightning import generator_builders
from rtb_lightning.builders import build_domain
from rtb_lightning.config import load_config
from rtb_lightning.domains import Latent
from rtb_lightning.errors import ConfigError
from rtb_lightning.generators import RealNVP, VAE
from rtb_lightning.prior_cache import generator_path

from .helpers import check_ok, run_train

pytest.importorskip("sklearn")
TINY = {"digits_vae": ["domain.hidden=64", "domain.latent_dim=4"], "digits_flow": ["domain.hidden=32", "domain.layers=2"]}


def _gen_cfg(tmp_path, name, steps=40):
    return load_config(["stage=generator", f"domain={name}", f"cache_dir={tmp_path}/cache", f"run_dir={tmp_path}/run",
                        f"generator.steps={steps}", "generator.batch_size=64", "generator.lr=0.003",
                        "trainer.enable_progress_bar=false", *TINY[name]])


def test_flow_inverse_and_log_det_match_autograd(float64):
    torch.manual_seed(1)
    flow = RealNVP((1, 2, 2), hidden=8, layers=3)
    for p in flow.parameters():                       # away from the identity initialisation
        p.data.add_(0.3 * torch.randn_like(p))
    x = torch.randn(3, 4)
    z, log_det = flow.to_latent(x)
    torch.testing.assert_close(flow.sample_from(z).view(3, 4), x)
    for i in range(3):
        jac = torch.autograd.functional.jacobian(lambda v: flow.to_latent(v[None])[0][0], x[i])
        torch.testing.assert_close(log_det[i], torch.linalg.slogdet(jac)[1])
    ref = torch.distributions.Normal(0.0, 1.0).log_prob(z).sum(1) + log_det
    torch.testing.assert_close(flow.log_prob(x), ref)


def test_vae_loss_is_an_upper_bound_estimate_with_closed_form_kl(float64):
    vae = VAE((1, 2, 2), latent_dim=2, hidden=8)
    x = torch.randn(5, 1, 2, 2)
    mu, log_var = vae.encoder(x.flatten(1)).chunk(2, dim=1)
    q = torch.distributions.Normal(mu, (0.5 * log_var).exp())
    kl = torch.distributions.kl_divergence(q, torch.distributions.Normal(0.0, 1.0)).sum(1)
    torch.manual_seed(3)
    loss = vae.loss(x)
    torch.manual_seed(3)
    z = mu + (0.5 * log_var).exp() * torch.randn_like(mu)
    nll = -torch.distributions.Normal(vae.decoder(z), vae.log_scale.exp()).log_prob(x).flatten(1).sum(1)
    torch.testing.assert_close(loss, nll + kl)


@pytest.mark.parametrize("name", ["digits_vae", "digits_flow"])
def test_stage_generator_reduces_the_loss_and_caches(tmp_path, name):
    cfg = _gen_cfg(tmp_path, name)
    domain = build_domain(cfg, "generator")
    held = domain.data[0][domain.split()[1]]
    torch.manual_seed(cfg.seed)
    before = domain.build_generator().loss(held).mean().item()
    net = generator_builders.train_generator(cfg, tmp_path / "run")
    after = net.loss(held).mean().item()
    assert after < before - 10, (before, after)
    path = generator_path(cfg)
    assert path.is_file()
    model, gdomain = generator_builders.load_checkpoint(path, tmp_path)       # rebuilt from the stored config
    torch.testing.assert_close(model.state_dict(), net.state_dict())
    gen = model.generator()
    assert gdomain.data_domain == "digits" and gen(torch.zeros(2, gen.latent_dim)).shape == (2, 1, 8, 8)


def test_generator_shorthand_selects_the_embedded_generator_and_loads_it_from_the_cache(tmp_path, monkeypatch):
    cfg = load_config(["domain=latent", "generator=digits_vae", f"cache_dir={tmp_path}/cache"])
    assert cfg.generator.name == "digits_vae"
    gcfg = generator_builders.embedded_config(cfg, "digits_vae")
    assert gcfg.domain.name == "digits_vae" and gcfg.generator.steps == 3000 and gcfg.cache_dir == f"{tmp_path}/cache"
    # a cached file at the embedded config's path is loaded, not retrained
    tiny = _gen_cfg(tmp_path, "digits_vae", steps=2)
    tiny.domain = gcfg.domain                          # same architecture as the embedded default
    net = generator_builders.train_generator(tiny, tmp_path / "run")
    generator_path(gcfg).parent.mkdir(parents=True, exist_ok=True)
    shutil.copy(generator_path(tiny), generator_path(gcfg))
    monkeypatch.setattr(generator_builders, "train_generator", lambda *a: pytest.fail("retrained a cached generator"))
    gen, data_domain = generator_builders.build_generator(cfg, tmp_path)
    torch.testing.assert_close(gen.state_dict(), net.decoder.state_dict())
    assert data_domain == "digits" and gen.latent_dim == 8


@pytest.mark.parametrize("argv, message", [
    (["generator=nope"], "not an embedded generator"),
    (["generator=digits_vae", "generator.target=a.b:c"], "exactly one"),
    (["domain.generator_target=a.b:c"], "renamed to generator.target"),
])
def test_bad_generator_choices_are_config_errors(tmp_path, argv, message):
    with pytest.raises(ConfigError, match=message):
        cfg = load_config(["domain=latent", f"run_dir={tmp_path}", f"cache_dir={tmp_path}", *argv])
        build_domain(cfg, "posterior")


@pytest.mark.parametrize("argv, message", [
    (["stage=generator", "domain=digits"], "needs a generator domain"),
    (["stage=prior", "domain=digits_vae"], "does not run on domain=digits_vae"),
])
def test_generator_domains_only_run_stage_generator(tmp_path, argv, message):
    cfg = load_config([*argv, f"run_dir={tmp_path}", f"cache_dir={tmp_path}"])
    with pytest.raises(ConfigError, match=message):
        if cfg.stage == "generator":
            generator_builders.train_generator(cfg, tmp_path)
        else:
            build_domain(cfg, cfg.stage)


def test_latent_rejects_an_output_shape_the_reward_does_not_take():
    gen = torch.nn.Linear(3, 6)
    with pytest.raises(ConfigError, match=r"outputs shape \(6,\) but the reward takes \(1, 8, 8\)"):
        Latent(latent_dim=3, generator=gen, reward=lambda x: x.sum(1), reward_input_shape=(1, 8, 8))


@pytest.mark.slow
def test_latent_run_with_a_cached_vae_and_the_digits_classifier(tmp_path):
    cfg = _gen_cfg(tmp_path, "digits_vae", steps=600)
    generator_builders.train_generator(cfg, tmp_path / "gen")
    common = ["domain=latent", f"generator.checkpoint={generator_path(cfg)}", f"cache_dir={tmp_path}/cache",
              "classifier.steps=150", "reward.classes=[7]"]
    with pytest.raises(ConfigError, match="domain.latent_dim=5 but the generator's latent dimension is 4"):
        build_domain(load_config([*common, "domain.latent_dim=5", f"run_dir={tmp_path}/bad"]), "posterior")
    proc = run_train([*common, f"run_dir={tmp_path}/ok", "trainer.max_steps=40", "posterior.batch_size=64",
                      "eval.every_n_steps=40", "eval.num_samples=256", "trainer.enable_progress_bar=false"], timeout=300)
    check_ok(proc)
    m = json.loads((tmp_path / "ok" / "metrics.json").read_text())
    for k in ("eval_accuracy", "fid", "diversity", "kl_post_prior"):
        assert math.isfinite(m[k]), k
    assert m["mean_log_r"] > m["prior_mean_log_r"] + 1.0
    assert m["eval_accuracy"] > m["prior_eval_accuracy"] + 0.03


def test_generator_domain_architecture_errors(tmp_path):
    for name, arg, message in (("digits_flow", "domain.latent_dim=8", "latent dimension is its data dimension 64"),
                               ("digits_vae", "domain.kind=gan", "not a generator kind")):
        cfg = load_config(["stage=generator", f"domain={name}", arg, f"run_dir={tmp_path}"])
        with pytest.raises(ConfigError, match=message):
            build_domain(cfg, "generator").build_generator()
