"""Processes: exact per-step log-probs, fused scoring, chunking, backward (noising) trajectories.

Reference values are built independently of the process code: the DDPM mean/std from the formulas
in notes/rtb.md section 2 and the densities from torch.distributions.Normal.
"""
import math

import pytest
import torch
from torch.distributions import Normal

from rtb_lightning.domains import Toy2D
from rtb_lightning.metrics import mode_weights, off_mode_fraction
from rtb_lightning.noise_schedule import respace
from rtb_lightning.processes import PinnedBrownianProcess, VPProcess

from .helpers import tiny_net

T = 6
B = 5


def _random_states(b=B, t=T, d=2):
    return torch.randn(b, t + 1, d)


# ---------------------------------------------------------------------------------------------
# VP (DDPM) chain
# ---------------------------------------------------------------------------------------------

def _ddpm_reference(num_steps, num_train_steps, variance, min_std):
    """Per sampling step i (state i -> i+1): training timestep, beta_i, abar_t, std -- from scratch."""
    scale = 1000 / num_train_steps
    betas_train = torch.linspace(scale * 1e-4, scale * 0.02, num_train_steps, dtype=torch.float64)
    abar = torch.cumprod(1 - betas_train, 0)
    # evenly spaced training steps, noisiest first
    taus = [round(i * (num_train_steps - 1) / (num_steps - 1)) for i in range(num_steps)][::-1]
    rows = []
    for i, tau in enumerate(taus):
        a_t = abar[tau]
        a_prev = abar[taus[i + 1]] if i + 1 < num_steps else torch.tensor(1.0, dtype=torch.float64)
        beta = 1 - a_t / a_prev
        var = beta if variance == "large" else beta * (1 - a_prev) / (1 - a_t)
        rows.append((tau, beta, a_t, max(math.sqrt(float(var)), min_std)))
    return rows


@pytest.mark.parametrize("variance,min_std", [("large", 0.0), ("small", 0.01), ("large", 0.05)])
def test_vp_step_log_probs_match_torch_normal(float64, variance, min_std):
    n_train = 50
    proc = VPProcess((2,), num_steps=T, num_train_steps=n_train, variance=variance, min_std=min_std)
    net = tiny_net()
    states = _random_states()
    got = proc.log_prob(net, states)
    assert got.shape == (B, T)
    for i, (tau, beta, a_t, std) in enumerate(_ddpm_reference(T, n_train, variance, min_std)):
        x, y = states[:, i], states[:, i + 1]
        eps = net(x, torch.full((B,), tau / n_train), None)
        mean = (x - beta / torch.sqrt(1 - a_t) * eps) / torch.sqrt(1 - beta)
        want = Normal(mean, std).log_prob(y).sum(-1)
        torch.testing.assert_close(got[:, i], want, rtol=1e-10, atol=1e-10)


def test_brownian_step_log_probs_match_torch_normal(float64):
    t_scale = 2.5
    proc = PinnedBrownianProcess((2,), num_steps=T, t_scale=t_scale)
    net = tiny_net()
    states = _random_states()
    got = proc.log_prob(net, states)
    dt = 1.0 / T
    for i in range(T):
        x, y = states[:, i], states[:, i + 1]
        mean = x + net(x, torch.full((B,), i * dt), None) * dt
        want = Normal(mean, math.sqrt(t_scale * dt)).log_prob(y).sum(-1)
        torch.testing.assert_close(got[:, i], want, rtol=1e-10, atol=1e-10)


def _processes():
    return [
        VPProcess((2,), num_steps=T, num_train_steps=40, variance="large"),
        VPProcess((2,), num_steps=T, num_train_steps=40, variance="small", min_std=0.01),
        PinnedBrownianProcess((2,), num_steps=T, t_scale=1.5),
    ]


@pytest.mark.parametrize("idx", range(3), ids=["vp-large", "vp-small", "brownian"])
@pytest.mark.parametrize("extra_std", [0.0, 0.7])
def test_fused_log_pf_equals_log_prob(float64, idx, extra_std):
    """The log-probs returned while sampling are the model's untempered scores of the sampled steps."""
    proc, net = _processes()[idx], tiny_net()
    states, log_pf = proc.sample(net, 7, extra_std=extra_std)
    assert states.shape == (7, T + 1, 2) and log_pf.shape == (7, T)
    torch.testing.assert_close(log_pf, proc.log_prob(net, states), rtol=1e-10, atol=1e-10)


def test_exploration_widens_the_sampled_steps(float64):
    proc = PinnedBrownianProcess((2,), num_steps=T, t_scale=1.0)
    zero = lambda x, t, c=None: torch.zeros_like(x)
    cold, _ = proc.sample(zero, 4000)
    hot, _ = proc.sample(zero, 4000, extra_std=1.0)
    # variance per step: t_scale * dt vs (t_scale + 1) * dt -> terminal variance 1 vs 2
    assert cold[:, -1].var().item() == pytest.approx(1.0, rel=0.1)
    assert hot[:, -1].var().item() == pytest.approx(2.0, rel=0.1)


@pytest.mark.parametrize("idx", range(3), ids=["vp-large", "vp-small", "brownian"])
@pytest.mark.parametrize("chunk", [1, 2, 4, T, T + 3])
def test_log_prob_chunks_equal_all_at_once(float64, idx, chunk):
    proc, net = _processes()[idx], tiny_net()
    states = _random_states()
    full = proc.log_prob(net, states)
    torch.testing.assert_close(proc.log_prob_chunks(net, states, chunk=chunk), full, rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(proc.log_prob_chunks(net, states, chunk=0), full, rtol=1e-12, atol=1e-12)


def test_log_prob_sub_range_equals_slice(float64):
    proc, net = _processes()[0], tiny_net()
    states = _random_states()
    full = proc.log_prob(net, states)
    torch.testing.assert_close(proc.log_prob(net, states, None, 2, 5), full[:, 2:5], rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("idx", range(3), ids=["vp-large", "vp-small", "brownian"])
def test_conditional_log_prob_pairs_each_row_with_its_condition(float64, idx):
    """Batched-over-time scoring must repeat condition b for all of trajectory b's steps."""
    proc = _processes()[idx]
    net = tiny_net(num_classes=3)
    states = _random_states(b=4)
    cond = torch.tensor([2, 0, 1, 2])
    got = proc.log_prob_chunks(net, states, cond, chunk=4)
    for b in range(4):
        want = proc.log_prob(net, states[b:b + 1], cond[b:b + 1])
        torch.testing.assert_close(got[b:b + 1], want, rtol=1e-12, atol=1e-12)
    _, log_pf = proc.sample(net, 4, cond)
    assert torch.isfinite(log_pf).all()


@pytest.mark.parametrize("idx", range(3), ids=["vp-large", "vp-small", "brownian"])
def test_sample_backward_ends_exactly_at_terminals(float64, idx):
    proc = _processes()[idx]
    x = torch.randn(9, 2)
    states = proc.sample_backward(x)
    assert states.shape == (9, T + 1, 2)
    assert torch.equal(states[:, -1], x)
    assert torch.isfinite(states).all()


def test_vp_sample_backward_marginals(float64):
    """Noising x = 0 along the sampling steps: state i has variance 1 - abar(state i)."""
    proc = VPProcess((2,), num_steps=5, num_train_steps=100, variance="large")
    states = proc.sample_backward(torch.zeros(20000, 2))
    abar_state = torch.cat([proc.abar_train[respace(100, 5).flip(0)], torch.ones(1, dtype=torch.float64)])
    for i in range(5):
        assert states[:, i].var(0).mean().item() == pytest.approx(1 - abar_state[i].item(), rel=0.05)
    assert states[:, -1].abs().max().item() == 0.0


def test_brownian_sample_backward_is_the_bridge(float64):
    """Backward from x_T the states are a Brownian bridge: x_k ~ N((k/T) x_T, sigma^2 (k/T)(1 - k/T))."""
    t_scale, steps = 2.0, 8
    proc = PinnedBrownianProcess((2,), num_steps=steps, t_scale=t_scale)
    x = torch.full((20000, 2), 3.0)
    states = proc.sample_backward(x)
    assert torch.equal(states[:, 0], torch.zeros(20000, 2))          # state 0 is exactly the origin
    for k in (2, 4, 6):
        s = k / steps
        assert states[:, k].mean().item() == pytest.approx(3.0 * s, abs=0.03)
        assert states[:, k].var(0).mean().item() == pytest.approx(t_scale * s * (1 - s), rel=0.05)


def test_brownian_log_prob_backward_matches_bridge_normal(float64):
    t_scale = 1.7
    proc = PinnedBrownianProcess((2,), num_steps=T, t_scale=t_scale)
    states = proc.sample_backward(torch.randn(B, 2))
    got = proc.log_prob_backward(states)
    assert got.shape == (B, T)
    assert torch.equal(got[:, 0], torch.zeros(B))                      # x_1 -> x_0 = 0 is a point mass
    dt = 1.0 / T
    for k in range(1, T):
        frac = k / (k + 1)
        want = Normal(states[:, k + 1] * frac, math.sqrt(t_scale * dt * frac)).log_prob(states[:, k]).sum(-1)
        torch.testing.assert_close(got[:, k], want, rtol=1e-10, atol=1e-10)
    for start, stop in [(0, 3), (2, 5), (1, T), (4, T)]:
        torch.testing.assert_close(proc.log_prob_backward(states, start, stop), got[:, start:stop])


def test_brownian_forward_equals_terminal_times_bridge(float64):
    """Backward-then-score consistency: for the drift-free pinned Brownian motion, any path from 0
    satisfies sum_t log p_F = log N(x_T; 0, sigma^2 I) + sum_t log p_B (the bridge factorisation)."""
    t_scale = 0.8
    proc = PinnedBrownianProcess((2,), num_steps=T, t_scale=t_scale)
    zero = lambda x, t, c=None: torch.zeros_like(x)
    states = proc.sample_backward(3 * torch.randn(B, 2))        # arbitrary terminals, bridge paths
    lhs = proc.log_prob(zero, states).sum(1)
    rhs = Normal(0.0, math.sqrt(t_scale)).log_prob(states[:, -1]).sum(-1) + proc.log_prob_backward(states).sum(1)
    torch.testing.assert_close(lhs, rhs, rtol=1e-10, atol=1e-10)


def test_vp_has_no_backward_kernel_for_tb():
    with pytest.raises(NotImplementedError, match="rtb"):
        _processes()[0].log_prob_backward(_random_states())


@pytest.mark.parametrize("n_train,n", [(1000, 1), (1000, 2), (1000, 7), (1000, 100), (1000, 999),
                                       (1000, 1000), (10, 9), (50, 37)])
def test_respace_ascending_with_zero(n_train, n):
    taus = respace(n_train, n)
    assert taus.shape == (n,)
    assert taus[0].item() == 0
    assert (taus[1:] > taus[:-1]).all()                                # strictly ascending (no duplicates)
    assert 0 <= taus.min() and taus.max() <= n_train - 1
    if n > 1:
        assert taus[-1].item() == n_train - 1


@pytest.mark.parametrize("n", [0, 1001])
def test_respace_rejects_bad_lengths(n):
    with pytest.raises(ValueError, match="sampling steps"):
        respace(1000, n)


def test_vp_time_input_runs_noisiest_first():
    proc = VPProcess((2,), num_steps=10, num_train_steps=1000)
    assert (proc.t_in[1:] < proc.t_in[:-1]).all()
    assert proc.t_in[-1].item() == 0.0
    assert proc.t_in[0].item() == pytest.approx(999 / 1000)
    assert proc.std.shape == (10,) and (proc.std > 0).all()


def test_vp_small_variance_default_min_std_gives_finite_log_probs():
    proc = VPProcess((2,), num_steps=10, num_train_steps=100, variance="small")
    _, log_pf = proc.sample(tiny_net(), 4)
    assert torch.isfinite(log_pf).all()


def test_analytic_gmm_prior_samples_the_25_gmm():
    """VP chain (200 steps, small variance) driven by the exact noised score reproduces the 25-GMM."""
    domain = Toy2D(scale=2.5, var=0.3)
    proc = VPProcess(domain.event_shape, num_steps=200, variance="small", min_std=0.01)
    prior = domain.analytic_prior(proc)
    states, log_pf = proc.sample(prior, 2000)
    assert torch.isfinite(log_pf).all()
    y = domain.to_data(states[:, -1])
    centres = domain.prior_gmm.means
    tv = 0.5 * (mode_weights(y, centres) - 1 / 25).abs().sum().item()
    assert tv < 0.1                                                    # sampling noise alone ~0.045
    assert off_mode_fraction(y, centres, 2.0) < 0.02                   # exact: ~0.001
    # within-mode spread matches var 0.3 per coordinate
    d2 = torch.cdist(y, centres).min(1).values.pow(2)
    assert d2.mean().item() == pytest.approx(2 * 0.3, rel=0.2)
