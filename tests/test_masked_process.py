"""Masked (absorbing-state) diffusion: exact log-probs against brute-force enumeration with
torch.distributions.Categorical, sample -> score consistency, backward (masking) trajectories,
and the training loss's expectation."""
import itertools
import math

import pytest
import torch
from torch.distributions import Categorical

from rtb_lightning.processes import MaskedProcess

from .text_helpers import ConstantLogits, TinyDenoiser

L, V, T = 3, 2, 2          # counts per step: [2, 1]
M = V                      # the mask id


def _all_trajectories():
    """Every trajectory of the L=3, V=2, T=2 chain: (T+1, L) long tensors."""
    out = []
    for first in itertools.combinations(range(L), 2):
        for toks in itertools.product(range(V), repeat=2):
            x1 = [M] * L
            for p, tk in zip(first, toks):
                x1[p] = tk
            last = [p for p in range(L) if p not in first][0]
            for tk in range(V):
                x2 = list(x1)
                x2[last] = tk
                out.append(torch.tensor([[M] * L, x1, x2]))
    return torch.stack(out)


def _reference_log_prob(model, traj, cond):
    """Per-step log-prob built from the definition: uniform position set, Categorical per new token."""
    steps = []
    for i in range(T):
        x, y = traj[i], traj[i + 1]
        m = int((x == M).sum())
        new = [(j, int(y[j])) for j in range(L) if x[j] == M and y[j] != M]
        logits = model(x[None], torch.tensor([m / L]), None if cond is None else cond[None])[0]
        lp = -math.log(math.comb(m, len(new)))
        lp += sum(Categorical(logits=logits[j]).log_prob(torch.tensor(tk)).item() for j, tk in new)
        steps.append(lp)
    return torch.tensor(steps)


@pytest.mark.parametrize("with_cond", [False, True])
def test_log_probs_match_enumeration_with_categorical(float64, with_cond):
    proc = MaskedProcess(L, V, T)
    assert proc.counts.tolist() == [2, 1]
    model = TinyDenoiser(L, V, cond_len=2 if with_cond else 0, cond_vocab=5)
    trajs = _all_trajectories()
    cond = torch.tensor([3, 1]).expand(len(trajs), -1) if with_cond else None
    got = proc.log_prob(model, trajs, cond)
    want = torch.stack([_reference_log_prob(model, tr, None if cond is None else cond[0]) for tr in trajs])
    torch.testing.assert_close(got, want, rtol=1e-10, atol=1e-10)
    # a proper distribution over trajectories, and chunked scoring agrees
    torch.testing.assert_close(got.sum(1).exp().sum(), torch.tensor(1.0), rtol=1e-10, atol=1e-10)
    torch.testing.assert_close(proc.log_prob_chunks(model, trajs, cond, chunk=1), got)


def test_invalid_transitions_score_minus_inf():
    proc = MaskedProcess(L, V, T)
    model = TinyDenoiser(L, V)
    good = _all_trajectories()[:1]
    bad_count = good.clone()
    bad_count[0, 1] = M                          # step 0 unmasks nothing
    bad_change = good.clone()
    bad_change[0, 2, (good[0, 1] != M).nonzero()[0, 0]] ^= 1     # an already unmasked token changes
    lp = proc.log_prob(model, torch.cat([good, bad_count, bad_change]))
    assert torch.isfinite(lp[0]).all()
    assert lp[1, 0] == -math.inf and lp[2, 1] == -math.inf
    assert torch.isfinite(lp[2, 0])


def test_sampled_terminals_follow_the_enumerated_marginal():
    torch.manual_seed(1)
    proc = MaskedProcess(L, V, T)
    model = TinyDenoiser(L, V)
    trajs = _all_trajectories()
    with torch.no_grad():
        p = proc.log_prob(model, trajs).sum(1).exp()
    code = lambda x: (x * torch.tensor([4, 2, 1])).sum(-1)
    exact = torch.zeros(8, dtype=p.dtype).index_add_(0, code(trajs[:, -1]), p)
    states, _ = proc.sample(model, 40000)
    emp = torch.bincount(code(states[:, -1]), minlength=8).to(p.dtype) / len(states)
    assert (emp - exact).abs().sum() / 2 < 0.015, (emp, exact)
    # tempered sampling is a different distribution (sanity: exploration does something)
    hot, _ = proc.sample(model, 40000, extra_std=3.0)
    emp_hot = torch.bincount(code(hot[:, -1]), minlength=8).to(p.dtype) / len(hot)
    assert (emp_hot - exact).abs().sum() / 2 > 0.05


@pytest.mark.parametrize("extra_std", [0.0, 1.5])
def test_sample_then_score_is_consistent(float64, extra_std):
    proc = MaskedProcess(7, 5, 3)                # uneven schedule 3, 2, 2
    assert proc.counts.tolist() == [3, 2, 2]
    model = TinyDenoiser(7, 5, cond_len=2, cond_vocab=4)
    cond = torch.randint(0, 4, (9, 2))
    states, log_pf = proc.sample(model, 9, cond, extra_std=extra_std)
    assert states.dtype == torch.long and states.shape == (9, 4, 7)
    assert (states[:, 0] == proc.mask_id).all() and (states[:, -1] < 5).all()
    assert ((states == proc.mask_id).sum(-1) == torch.tensor([7, 4, 2, 0])).all()
    torch.testing.assert_close(proc.log_prob(model, states, cond), log_pf, rtol=1e-10, atol=1e-10)
    torch.testing.assert_close(proc.log_prob_chunks(model, states, cond, chunk=2), log_pf, rtol=1e-10, atol=1e-10)


def test_backward_trajectories_end_fully_masked_with_exact_log_probs(float64):
    proc = MaskedProcess(7, 5, 3)
    x = torch.randint(0, 5, (50, 7))
    states = proc.sample_backward(x)
    assert states.shape == (50, 4, 7)
    assert torch.equal(states[:, -1], x)
    assert (states[:, 0] == proc.mask_id).all()
    # each step unmasks exactly counts[i] positions and never changes an unmasked token
    masked = (states == proc.mask_id).sum(-1)
    assert (masked == torch.tensor([7, 4, 2, 0])).all()
    keep = states != proc.mask_id
    assert (keep[:, :-1] <= keep[:, 1:]).all()
    assert torch.equal(torch.where(keep, states, x[:, None]), x[:, None].expand_as(states))
    # p_B(x_i | x_{i+1}) = 1 / C(unmasked in x_{i+1}, k_i): C(3,3), C(5,2), C(7,2)
    want = -torch.log(torch.tensor([1.0, 10.0, 21.0]))
    torch.testing.assert_close(proc.log_prob_backward(states), want.expand(50, -1))
    torch.testing.assert_close(proc.log_prob_backward(states, 1, 3), want[1:].expand(50, -1))
    # the forward chain gives these trajectories positive probability
    assert torch.isfinite(proc.log_prob(TinyDenoiser(7, 5), states)).all()
    # the position orders are uniform: the first-unmasked set covers all positions evenly
    first = (states[:, 1] != proc.mask_id).double().mean(0)
    assert first.min() > 0.1
    bad = states.clone()
    bad[:, 1] = proc.mask_id
    assert (proc.log_prob_backward(bad)[:, :2] == -math.inf).all()


def test_backward_enumeration_sums_to_one():
    """All re-masking trajectories of one terminal: their backward probabilities sum to 1."""
    proc = MaskedProcess(L, V, T)
    x = torch.tensor([1, 0, 1])
    trajs = [t for t in _all_trajectories() if torch.equal(t[-1], x)]
    lp = proc.log_prob_backward(torch.stack(trajs)).sum(1)
    assert len(trajs) == 3
    torch.testing.assert_close(lp.exp().sum(), torch.tensor(1.0))


def test_diffusion_loss_expectation_is_the_per_token_cross_entropy(float64):
    """For a model that ignores its input the bound's expectation is the mean per-position CE."""
    torch.manual_seed(0)
    proc = MaskedProcess(6, 4, 4)
    logits = torch.randn(1, 6, 4)
    model = ConstantLogits(logits)
    x0 = torch.randint(0, 4, (60000, 6))
    want = torch.nn.functional.cross_entropy(logits.expand(len(x0), -1, -1).flatten(0, 1), x0.flatten())
    got = proc.diffusion_loss(model, x0)
    assert abs(got.item() - want.item()) < 0.02 * want.item()
    got.backward()
    assert model.logits.grad.abs().sum() > 0


def test_bad_arguments():
    with pytest.raises(ValueError, match="num_steps"):
        MaskedProcess(3, 5, 4)
    proc = MaskedProcess(3, 5, 3)
    with pytest.raises(ValueError, match="mask"):
        proc.sample_backward(torch.tensor([[1, 5, 2]]))
    with pytest.raises(ValueError, match="long tokens"):
        proc.sample_backward(torch.zeros(2, 3))


@pytest.mark.parametrize("name", ["rtb", "vargrad", "rl_kl"])
@pytest.mark.parametrize("chunk", [0, 1, 2])
def test_chunked_gradient_equals_full_graph(float64, name, chunk):
    """The memory-flat gradient (gradient.py) through the discrete process equals one autograd graph."""
    from rtb_lightning.gradient import chunked_backward
    from rtb_lightning.objectives import OBJECTIVES

    proc = MaskedProcess(7, 5, 3)
    net = TinyDenoiser(7, 5, cond_len=2, cond_vocab=4)
    cond = torch.randint(0, 4, (6, 2))
    states, log_pf = proc.sample(net, 6, cond, extra_std=0.5)          # tempered: off-policy
    log_ref, log_r = torch.randn(6) * 3, torch.randn(6) * 2
    log_z = torch.nn.Parameter(torch.tensor(0.3))
    obj = lambda s: OBJECTIVES[name](s, log_ref, log_r, log_z.expand(6), beta=1.3)
    params = [*net.parameters(), log_z]
    full = obj(proc.log_prob(net, states, cond).sum(1))
    full.backward()
    want = [None if p.grad is None else p.grad.clone() for p in params]
    for p in params:
        p.grad = None
    loss = chunked_backward(obj, log_pf.sum(1), lambda a, b: proc.log_prob(net, states, cond, a, b), 3, chunk)
    torch.testing.assert_close(loss, full.detach())
    for w, p in zip(want, params):
        if w is None:
            assert p.grad is None or not p.grad.any()
        else:
            torch.testing.assert_close(p.grad, w, rtol=1e-6, atol=1e-12)
    assert want[0].abs().sum() > 0
