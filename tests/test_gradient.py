"""The chunked (memory-flat) gradient equals the full-graph gradient, for every objective.

notes/rtb.md section 3: evaluate the objective at detached per-trajectory sums, then recompute the
log-probs chunk by chunk with grad and backpropagate dL/ds . chunk_sum. In float64 this must agree
with one autograd graph through all T steps to rtol 1e-5 -- including the log Z gradient.
"""
import functools

import pytest
import torch

from rtb_lightning.gradient import all_reduce_gradients, chunked_backward
from rtb_lightning.objectives import OBJECTIVES
from rtb_lightning.processes import PinnedBrownianProcess, VPProcess

from .helpers import tiny_net

T = 7
B = 6


def _problem(kind):
    proc = (VPProcess((2,), num_steps=T, num_train_steps=50, variance="small", min_std=0.01) if kind == "vp"
            else PinnedBrownianProcess((2,), num_steps=T, t_scale=1.0))
    net = tiny_net(num_classes=2)
    cond = torch.tensor([0, 1, 0, 1, 1, 0])
    states, log_pf = proc.sample(net, B, cond, extra_std=0.5)      # off-policy (tempered) trajectories
    log_ref = torch.randn(B) * 3
    log_r = torch.randn(B) * 2
    log_z = torch.nn.Parameter(torch.tensor(0.3))
    return proc, net, cond, states, log_pf.sum(1), log_ref, log_r, log_z


OBJECTIVE_CASES = {
    "rtb": functools.partial(OBJECTIVES["rtb"], beta=1.5),
    "rtb-clip": functools.partial(OBJECTIVES["rtb"], beta=1.0, clip=2.0),
    "tb": functools.partial(OBJECTIVES["tb"], beta=1.0),
    "vargrad": functools.partial(OBJECTIVES["vargrad"], beta=0.7),
    "vargrad-groups": functools.partial(OBJECTIVES["vargrad"], groups=torch.tensor([0, 1, 0, 1, 1, 0])),
    "rl_kl": functools.partial(OBJECTIVES["rl_kl"], beta=2.0, kl_weight=0.5),
}


def _grads(params):
    return [None if p.grad is None else p.grad.clone() for p in params]


@pytest.mark.parametrize("kind", ["vp", "brownian"])
@pytest.mark.parametrize("name", list(OBJECTIVE_CASES))
@pytest.mark.parametrize("chunk", [0, 1, 3, 5])           # 3 and 5 do not divide T = 7
def test_chunked_gradient_equals_full_graph(float64, kind, name, chunk):
    proc, net, cond, states, log_pf_sum, log_ref, log_r, log_z = _problem(kind)
    obj = OBJECTIVE_CASES[name]
    params = [*net.parameters(), log_z]

    # full graph: one autograd graph through all T steps
    full_lp = proc.log_prob(net, states, cond).sum(1)
    full_loss = obj(full_lp, log_ref, log_r, log_z.expand(B))
    full_loss.backward()
    want = _grads(params)
    for p in params:
        p.grad = None

    loss = chunked_backward(lambda s: obj(s, log_ref, log_r, log_z.expand(B)), log_pf_sum,
                            lambda a, b: proc.log_prob(net, states, cond, a, b), T, chunk)
    got = _grads(params)

    torch.testing.assert_close(loss, full_loss.detach(), rtol=1e-10, atol=1e-12)
    assert not loss.requires_grad
    for w, g in zip(want, got):
        if w is None:
            assert g is None or torch.count_nonzero(g) == 0
        else:
            torch.testing.assert_close(g, w, rtol=1e-5, atol=1e-12)
    assert any(w is not None and w.abs().sum() > 0 for w in want[:-1])      # the test is not vacuous
    if name in ("rtb", "rtb-clip", "tb"):
        assert want[-1] is not None and want[-1].abs() > 0                    # log Z gets its gradient


def test_chunked_backward_accumulates_into_existing_grads(float64):
    """Like loss.backward(), gradients add up over calls (the module zeroes them per step)."""
    proc, net, cond, states, log_pf_sum, log_ref, log_r, log_z = _problem("brownian")
    obj = lambda s: OBJECTIVES["rtb"](s, log_ref, log_r, log_z.expand(B))
    rec = lambda a, b: proc.log_prob(net, states, cond, a, b)
    chunked_backward(obj, log_pf_sum, rec, T, 3)
    once = [p.grad.clone() for p in net.parameters()]
    chunked_backward(obj, log_pf_sum, rec, T, 2)
    for p, g in zip(net.parameters(), once):
        torch.testing.assert_close(p.grad, 2 * g)


def test_all_reduce_gradients_is_a_noop_without_distributed():
    p = torch.nn.Parameter(torch.ones(3))
    p.grad = torch.full((3,), 2.0)
    all_reduce_gradients([p])
    assert torch.equal(p.grad, torch.full((3,), 2.0))
