"""Samplers of densities: TB against the pinned-Brownian reference on the energy domains."""
import json
import math

import pytest
import torch

from rtb_lightning.builders import build_domain, build_module, build_posterior, build_prior, build_process, check_method
from rtb_lightning.config import load_config
from rtb_lightning.errors import ConfigError
from rtb_lightning.metrics import importance_metrics

from .helpers import run_train

SMALL = ["posterior.batch_size=32", "process.num_steps=10", "posterior.network.hidden=32",
         "posterior.network.layers=2", "posterior.log_z_init_samples=64"]


def _build(tmp_path, *extra):
    cfg = load_config([*SMALL, f"run_dir={tmp_path / 'run'}", *extra])
    check_method(cfg)
    domain = build_domain(cfg, "posterior")
    process = build_process(cfg, domain)
    prior = build_prior(cfg, domain, process, tmp_path / "run")
    return build_module(cfg, domain, process, prior, build_posterior(cfg, prior, domain, process)), domain


@pytest.mark.parametrize("args, message", [
    (["domain=gmm25", "process.kind=vp"], "Brownian reference"),
    (["domain=manywell", "prior.kind=analytic"], "Brownian reference"),
    (["domain=gmm25", "method=rl_kl"], "rl_kl"),
    (["domain=funnel", "method=tb", "sampler.local_search=true"], "sampling.buffer"),
    (["domain=gmm25", "sampler.langevin=true", "posterior.init=copy"], "posterior.init=residual"),
])
def test_bad_sampler_configs_are_config_errors(args, message):
    with pytest.raises(ConfigError, match=message):
        check_method(load_config(args))


@pytest.mark.parametrize("method", ["tb", "vargrad", "rtb"])
@pytest.mark.parametrize("domain", ["gmm25", "funnel", "manywell"])
def test_untrained_sampler_is_the_reference_and_its_weights_are_closed_form(tmp_path, domain, method):
    """Zero drift: sum log p_F - sum log p_B over a path = log N(x_T; 0, sigma^2 I) (the bridge
    factorisation of Brownian motion), whatever the objective; so log w = log R(x) - log N(x; 0, sigma^2)."""
    m, d = _build(tmp_path, f"domain={domain}", f"method={method}")
    assert m.scorer.reference == "backward"
    torch.manual_seed(0)
    states, log_pf, log_ref = m.sample_scored(200)
    x = states[:, -1]
    var = m.process.t_scale
    log_n = (-0.5 * x.pow(2) / var - 0.5 * math.log(2 * math.pi * var)).sum(1)
    torch.testing.assert_close(log_pf - log_ref, log_n, rtol=1e-4, atol=2e-3)
    assert torch.equal(states[:, 0], torch.zeros_like(states[:, 0]))


def test_langevin_parametrisation_adds_the_clipped_scaled_score(tmp_path):
    m, d = _build(tmp_path, "domain=manywell", "sampler.langevin=true", "sampler.langevin_clip=5.0",
                  "sampler.langevin_max=0")
    drift = m.posterior.correction
    x, t = torch.randn(64, 32) * 2, torch.rand(64)
    torch.testing.assert_close(drift(x, t), drift.net(x, t))            # zero-initialised scale
    with torch.no_grad():
        drift.scale[-1].bias.fill_(0.5)
    # the manywell score in closed form: d/dx1 = -4 x1^3 + 12 x1 + 1/2, d/dx2 = -x2
    g = torch.empty_like(x)
    g[:, 0::2] = -4 * x[:, 0::2] ** 3 + 12 * x[:, 0::2] + 0.5
    g[:, 1::2] = -x[:, 1::2]
    torch.testing.assert_close(drift(x, t), drift.net(x, t) + 0.5 * g.clamp(-5, 5), rtol=1e-5, atol=1e-5)
    m.zero_grad(set_to_none=True)
    m.log_z_ready.fill_(True)
    loss, _ = m.accumulate_gradients(None, 0)
    assert torch.isfinite(loss)
    assert drift.scale[-1].bias.grad is not None and torch.isfinite(drift.scale[-1].bias.grad).all()


def test_langevin_scale_bound_keeps_small_scales_and_caps_large_ones(tmp_path):
    """manywell.yaml bounds s(t) (sampler.langevin_max=0.2): s starts exactly at its init, stays below the
    bound however large the raw output grows, and the bound adds no parameters (checkpoints load either way)."""
    m, _ = _build(tmp_path, "domain=manywell", "sampler.langevin=true", "sampler.langevin_init=0.1")
    free, _ = _build(tmp_path, "domain=manywell", "sampler.langevin=true", "sampler.langevin_max=0")
    scale, t = m.posterior.correction.scale, torch.rand(16)
    torch.testing.assert_close(scale(t), torch.full((16, 32), 0.1))
    raw = scale[3]                                  # the last Linear: the bound follows it
    with torch.no_grad():
        raw.bias.zero_()
        raw.bias[:3] = torch.tensor([50.0, -50.0, 0.01])
    s = scale(t)
    torch.testing.assert_close(s[:, :2], torch.tensor([0.2, -0.2]).expand(16, 2))     # capped
    torch.testing.assert_close(s[:, 2], torch.full((16,), 0.01), rtol=1e-3, atol=0)    # ~identity near 0
    free.posterior.load_state_dict(m.posterior.state_dict())
    torch.testing.assert_close(free.posterior.correction.scale(t)[:, :3], torch.tensor([50.0, -50.0, 0.01]).expand(16, 3))


@pytest.mark.parametrize("args, message", [(["sampler.langevin_max=-1"], "langevin_max"),
                                           (["sampler.langevin_init=0.3"], "langevin_init"),
                                           (["checkpoint.keep=0"], "checkpoint.keep")])
def test_bad_langevin_bound_and_checkpoint_keep_are_config_errors(args, message):
    with pytest.raises(ConfigError, match=message):
        check_method(load_config(["domain=manywell", "sampler.langevin=true", *args]))


@pytest.mark.parametrize("at", ["denoised", "estimate"])
def test_langevin_bound_with_a_denoised_term_is_a_config_error(at):
    with pytest.raises(ConfigError, match="noisy-state term only"):
        check_method(load_config(["domain=digits", f"sampler.langevin_at={at}", "sampler.langevin_max=1.0"]))


def _outward(drift_net, gain):
    """Make a TimeMLP extrapolate outward: identity weights through its SiLUs, so the output is about
    gain * x wherever x is large and positive."""
    with torch.no_grad():
        for p in drift_net.parameters():
            p.zero_()
        d = drift_net.inp.in_features
        drift_net.inp.weight[:d, :d] = torch.eye(d)        # hidden >= d
        for layer in drift_net.body:
            if isinstance(layer, torch.nn.Linear):
                layer.weight[:d, :d] = torch.eye(d)
        drift_net.out.weight[:, :d] = gain * torch.eye(d)


@pytest.mark.parametrize("bound", [0.0, 1.0])
def test_drift_bound_turns_a_geometric_escape_into_at_most_bound_per_step(tmp_path, bound):
    """A drift network that extrapolates outward (positive x -> output 10x: each step doubles x in std
    units) escapes geometrically; with posterior.drift_max every step's mean moves at most drift_max
    step stds, so |x_T| <= T * drift_max * step_std + |the noise's sum|."""
    m, _ = _build(tmp_path, "domain=manywell", "posterior.network.hidden=64", "process.num_steps=40",
                  f"posterior.drift_max={bound}")
    corr = m.posterior.correction
    _outward(corr, 10.0)
    torch.manual_seed(0)
    states, _ = m.sample(256)
    x = states[:, -1]
    if not bound:
        assert not torch.isfinite(x).all() or x.abs().max() > 1e6
        return
    step_std = math.sqrt(m.process.t_scale * m.process.dt)
    assert torch.isfinite(x).all()
    assert x.abs().max() <= 40 * bound * step_std + 6.0     # noise sum ~ N(0, 1): |.| < 6 over 256 x 32
    assert x.abs().max() > 0.5 * 40 * bound * step_std      # the bound is reached: the push is real


def test_drift_bound_leaves_the_langevin_term_unbounded_and_small_outputs_unchanged(tmp_path):
    m, _ = _build(tmp_path, "domain=manywell", "sampler.langevin=true", "sampler.langevin_max=0",
                  "posterior.drift_max=1.0")
    drift = m.posterior.correction
    x, t = torch.randn(64, 32) * 3, torch.rand(64)
    raw = drift.net
    with torch.no_grad():
        raw.out.bias.fill_(0.01)
        drift.scale[-1].bias.fill_(1.0)
    torch.testing.assert_close(drift.net(x, t), torch.full((64, 32), 0.01), rtol=1e-4, atol=0)   # ~identity near 0
    with torch.no_grad():
        raw.out.bias.fill_(50.0)
    score = drift.score(x)
    torch.testing.assert_close(drift(x, t), torch.tanh(torch.tensor(50.0)) + score)
    assert drift(x, t).abs().max() > 10                     # the clipped score passes unbounded


def test_manywell_bounds_its_drift_network_by_default():
    assert load_config(["domain=manywell"]).posterior.drift_max == 1.0
    assert load_config(["domain=funnel"]).posterior.drift_max == 0.0      # its target needs large drifts


def test_drift_bound_applies_to_a_checkpoint_trained_without_it(tmp_path):
    """The bound adds no parameters and renames none: an unbounded run's weights load into a bounded
    sampler (sampling an escaping checkpoint with the bound needs no retraining), outputs then bounded."""
    free, _ = _build(tmp_path, "domain=manywell", "sampler.langevin=true", "posterior.drift_max=0")
    bounded, _ = _build(tmp_path, "domain=manywell", "sampler.langevin=true", "posterior.drift_max=2.0")
    assert free.state_dict().keys() == bounded.state_dict().keys()
    with torch.no_grad():
        free.posterior.correction.net.out.bias.copy_(torch.linspace(-30, 30, 32))
    bounded.load_state_dict(free.state_dict())
    x, t = torch.randn(8, 32), torch.rand(8)
    torch.testing.assert_close(bounded.posterior.correction.net(x, t), 2.0 * torch.tanh(free.posterior.correction.net(x, t) / 2.0))


@pytest.mark.parametrize("args, message", [(["posterior.drift_max=-1"], "drift_max"),
                                           (["posterior.drift_max=1", "posterior.init=copy", "domain=digits"],
                                            "posterior.init=residual")])
def test_bad_drift_bound_is_a_config_error(args, message):
    with pytest.raises(ConfigError, match=message):
        check_method(load_config(args))


@pytest.mark.slow
def test_short_tb_run_on_gmm25_reduces_the_log_z_error(tmp_path):
    torch.manual_seed(0)
    m, d = _build(tmp_path, "domain=gmm25", "method=tb", "posterior.batch_size=128", "process.num_steps=20",
                  "posterior.network.hidden=64", "exploration.std=0")
    opt = torch.optim.Adam([{"params": m.posterior.parameters(), "lr": 3e-3}, {"params": m.log_z.parameters(), "lr": 0.1}])

    def elbo_error():
        states, lp, lref = m.sample_scored(1000)
        return importance_metrics(d.log_density(states[:, -1]) + lref - lp, d.log_z)["log_z_error"]

    before = elbo_error()
    m.log_z_ready.fill_(True)
    for step in range(300):
        opt.zero_grad()
        m.accumulate_gradients(None, step)
        opt.step()
    after = elbo_error()
    assert after < 0.75 * before, (before, after)         # measured: 6.2 -> 3.0-4.1


@pytest.mark.slow
def test_train_py_gmm25_with_local_search_and_langevin_writes_sampler_metrics(tmp_path):
    run = tmp_path / "run"
    proc = run_train(["domain=gmm25", "method=vargrad", "sampler.local_search=true", "sampler.langevin=true",
                      "sampling.on_policy=0.5", "sampling.buffer=0.5", "sampling.prior=0", "exploration.std=1.0",
                      "trainer.max_steps=24", "posterior.batch_size=64", "process.num_steps=10",
                      "sampler.ls_every=10", "sampler.ls_steps=20", "sampler.ls_burn_in=10", "sampler.ls_keep_every=5",
                      "eval.every_n_steps=12", "eval.num_samples=200", "posterior.log_z_init_samples=64",
                      "trainer.enable_progress_bar=false", f"run_dir={run}", f"cache_dir={tmp_path / 'cache'}"])
    assert proc.returncode == 0, proc.stderr[-3000:]
    metrics = json.loads((run / "metrics.json").read_text())
    for k in ("log_z_error", "log_z_iw_error", "eubo", "w2_sq", "w2", "ess"):
        assert isinstance(metrics[k], float) and math.isfinite(metrics[k]), k
    assert metrics["w2"] == pytest.approx(math.sqrt(metrics["w2_sq"]))
    assert metrics["eubo"] > metrics["log_z_elbo"]          # EUBO >= log Z >= ELBO; far apart after 24 steps
    history = json.loads((run / "eval_history.json").read_text())      # written at each evaluation
    assert [h["step"] for h in history] == [12, 24] and history[-1]["w2_sq"] == metrics["w2_sq"]
    ckpt = torch.load(run / "checkpoints" / "last.ckpt", map_location="cpu", weights_only=False)
    assert "local_search" in ckpt and ckpt["local_search"]["step_size"] > 0


def test_learned_variance_scores_per_dimension_gaussians(tmp_path):
    m, d = _build(tmp_path, "domain=funnel", "method=tb", "sampler.learned_variance=true", "sampler.log_var_range=2.0")
    post, proc = m.posterior, m.process
    with torch.no_grad():                               # a non-trivial drift and log-std correction
        for p in post.parameters():
            p.add_(0.3 * torch.randn_like(p))
    torch.manual_seed(1)
    states, log_pf = proc.sample(post, 50, extra_std=0.5)
    torch.testing.assert_close(log_pf, proc.log_prob(post, states), rtol=1e-4, atol=1e-3)   # fused = batched
    i = 4                                                # one step by hand against torch.distributions
    x, y = states[:, i], states[:, i + 1]
    out = post(x, proc.t_in[i].expand(50))
    std = proc.step_std[i] * out[:, 1].clamp(-1.0, 1.0).exp()
    ref = torch.distributions.Normal(x + out[:, 0] * proc.dt, std).log_prob(y).sum(1)
    torch.testing.assert_close(proc.log_prob(post, states, None, i, i + 1)[:, 0], ref, rtol=1e-5, atol=1e-4)
    assert not torch.allclose(std, proc.step_std[i].expand_as(std))
    m.zero_grad(set_to_none=True)
    m.log_z_ready.fill_(True)
    loss, _ = m.accumulate_gradients(None, 0)
    assert torch.isfinite(loss) and post.log_std.out.weight.grad.abs().sum() > 0


@pytest.mark.parametrize("energy", ["funnel", "manywell", "gmm25"])
def test_energy_nan_rewards_are_dropped_and_counted_not_fatal(tmp_path, energy):
    """Far out in x_0 the funnel's density is NaN/inf, and a trajectory that escapes to overflow gives NaN on
    any energy (Manywell: -inf^4 + 6 inf^2): every energy domain file drops such samples (reward.nonfinite=drop)."""
    m, d = _build(tmp_path, f"domain={energy}", "method=tb", "sampler.langevin=true")
    real = d.log_density
    d.log_density = lambda x: torch.where(x[:, 0] > 0, torch.full_like(x[:, 0], float("nan")), real(x))
    m.zero_grad(set_to_none=True)
    m.log_z_ready.fill_(True)
    loss, out = m.accumulate_gradients(None, 0)
    assert torch.isfinite(loss) and torch.isfinite(out["log_r"]).all()
    assert 0 < m._reward_counts[1] < 32 and len(out["log_r"]) == 32 - m._reward_counts[1]
    assert all(torch.isfinite(p.grad).all() for p in m.posterior.parameters() if p.grad is not None)
