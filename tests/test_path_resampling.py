import math

import pytest
import torch

from rtb_lightning.path_resampling import ResampledSampler, pick_by_weight, posterior_resampler, scored_process_sampler


def test_pick_by_weight_follows_the_weights_and_falls_back_on_rows_without_any():
    g = torch.Generator().manual_seed(0)
    log_w = torch.log(torch.tensor([[0.1, 0.6, 0.3]])).expand(20000, 3)
    idx, ess, dead = pick_by_weight(log_w, generator=g)
    freq = torch.bincount(idx, minlength=3).double() / len(idx)
    torch.testing.assert_close(freq, torch.tensor([0.1, 0.6, 0.3], dtype=torch.float64), atol=0.015, rtol=0)
    torch.testing.assert_close(ess, torch.full((20000,), 1 / (0.01 + 0.36 + 0.09), dtype=torch.float64))
    assert dead == 0
    rows = torch.tensor([[-math.inf, 2.0, float("nan")], [-math.inf, -math.inf, float("nan")]])
    idx, ess, dead = pick_by_weight(rows)
    assert idx.tolist() == [1, 0] and dead == 1          # the only finite weight; a dead row: the first proposal
    assert ess[0].item() == pytest.approx(1.0)


def _gaussian_paths(std):
    """One-step 'paths' x_0 = 0 -> x_1 ~ N(0, std^2) in 2-d, scored under the proposal and under a N(0, 1) prior."""
    def sample_scored(n, cond=None):
        x = std * torch.randn(n, 2)
        lq = torch.distributions.Normal(0.0, std).log_prob(x).sum(1)
        lp = torch.distributions.Normal(0.0, 1.0).log_prob(x).sum(1)
        return torch.stack([torch.zeros_like(x), x], 1), lq, lp
    return sample_scored


def test_resampling_a_wide_proposal_gives_the_tilted_prior():
    """Target N(0, I)·exp(β·x_1): N((β, 0), I). Proposal N(0, 2²I), 64 paths per output: the outputs' mean
    and std are the target's, not the proposal's (nor the prior's)."""
    torch.manual_seed(0)
    beta = 1.5
    sampler = ResampledSampler(_gaussian_paths(2.0), lambda x, c: x[:, 0], beta, k=64)
    x = torch.cat([sampler(1000) for _ in range(8)])
    torch.testing.assert_close(x.mean(0), torch.tensor([beta, 0.0]), atol=0.08, rtol=0)
    torch.testing.assert_close(x.std(0), torch.ones(2), atol=0.08, rtol=0)
    st = sampler.stats()
    assert st["k"] == 64 and 1 < st["mean_ess"] < 64 and st["rows_without_weight"] == 0
    plain = ResampledSampler(_gaussian_paths(2.0), lambda x, c: x[:, 0], beta, k=1)(8000)   # k=1: the proposal
    assert abs(plain[:, 0].mean().item()) < 0.1 and plain.std(0).min().item() > 1.8


def test_resampling_keeps_each_output_with_its_condition():
    """Row i's k proposals share cond[i]: the reward is large only for paths matching the row's condition."""
    def sample_scored(n, cond):
        x = torch.randn(n, 1)
        zero = torch.zeros(n)
        return torch.stack([torch.zeros_like(x), x], 1), zero, zero
    log_r = lambda x, cond: -50 * (x[:, 0] - cond) ** 2
    cond = torch.tensor([-1.0, 0.0, 1.0]).repeat(50)
    x = ResampledSampler(sample_scored, log_r, 1.0, k=256)(len(cond), cond)
    assert (x[:, 0] - cond).abs().max().item() < 0.5


def test_resampling_refuses_fewer_than_one_proposal():
    with pytest.raises(ValueError, match="k >= 1"):
        ResampledSampler(_gaussian_paths(1.0), lambda x, c: x[:, 0], 1.0, k=0)


def test_scored_process_sampler_scores_guided_paths_under_both_models(float64):
    from rtb_lightning.guidance import GuidedPrior
    from rtb_lightning.processes.vp import VPProcess

    torch.manual_seed(0)
    proc = VPProcess((3,), num_steps=7, num_train_steps=100)
    lin = torch.nn.Linear(3, 3)
    abar = lambda t: proc.alpha_bar(t).view(-1, 1)
    # N(0, I) data's exact noise prediction plus a bounded random part scaled by sqrt(abar): DPS's x0-estimate
    # divides by sqrt(abar) (2e-5 at the first step), so a random network alone sends guided paths to 1e17,
    # where float rounding alone separates the two scorings
    net = lambda x, t, cond=None: (1 - abar(t)).sqrt() * x + abar(t).sqrt() * torch.tanh(lin(x))
    guided = GuidedPrior(net, lambda x, c: -(x - 1).pow(2).sum(1), proc.alpha_bar, 2.0, "dps")
    states, log_q, log_ref = scored_process_sampler(proc, guided, net, chunk=3)(5)
    assert states.shape == (5, 8, 3)
    with torch.enable_grad():
        want_q = proc.log_prob(guided, states).sum(1)
    assert states.abs().max() < 100                  # well-conditioned paths (see above)
    torch.testing.assert_close(log_q, want_q, rtol=1e-10, atol=1e-8)
    torch.testing.assert_close(log_ref, proc.log_prob(net, states).sum(1), rtol=1e-10, atol=1e-8)
    assert (log_q - log_ref).abs().max() > 1.0       # guidance moved the paths off the prior's scores


def test_posterior_resampler_weighs_the_module_paths_by_its_final_target(tmp_path):
    """The wiring for a trained module: β at its end value, the reward floored as in training, and each
    output the highest-weight proposal when one weight dominates."""
    from .test_module import _build, _config

    module = _build(_config(tmp_path, "prior.kind=analytic", "beta.start=1", "beta.end=3", "beta.anneal_steps=10",
                            "reward.log_r_min=-7"), tmp_path)
    module._trainer = None
    module.reward = lambda x, cond=None: torch.where(x[:, 0] > 0, -(x[:, 0] - 1) ** 2, torch.full_like(x[:, 0], -torch.inf))
    sampler = posterior_resampler(module, k=5)
    assert sampler.beta == 3.0 and sampler.k == 5
    x = torch.tensor([[2.0, 0.0], [-1.0, 0.0]])
    assert sampler.log_reward(x, None).tolist() == [-1.0, -7.0]          # -inf floored at reward.log_r_min
    torch.manual_seed(0)
    out = sampler(64)
    assert out.shape == (64, *module.process.event_shape) and sampler.stats()["rows_without_weight"] == 0
    assert (out[:, 0] > 0).float().mean() > 0.9          # floor-reward proposals (x_0 <= 0) carry e^-21 of the weight
