"""Objectives as pure functions of per-trajectory log-prob sums: optima, invariances, gradients."""
import pytest
import torch

from rtb_lightning.objectives import (LEARNS_LOG_Z, OBJECTIVES, rl_kl, rtb, rtb_delta, tb, vargrad,
                                      vargrad_log_z)

B = 8


def _batch(b=B):
    return torch.randn(b) * 5, torch.randn(b) * 5, torch.randn(b) * 2      # log_pf, log_ref, log_r


def test_registry():
    assert set(OBJECTIVES) == {"rtb", "tb", "vargrad", "rl_kl", "ddpo"}
    assert LEARNS_LOG_Z == {"rtb", "tb"}


def test_rtb_delta_sign_convention():
    # delta = log Z + log p_post - log p_prior - beta log r
    d = rtb_delta(torch.tensor([2.0]), torch.tensor([5.0]), torch.tensor([3.0]), torch.tensor([7.0]), beta=0.5)
    assert d.item() == 7.0 + 2.0 - 5.0 - 0.5 * 3.0


@pytest.mark.parametrize("beta", [1.0, 0.5, 2.0])
def test_rtb_exactly_zero_at_known_optimum(beta):
    """Posterior = prior, constant reward c, log Z = beta * c: every delta and the loss are exactly 0.
    (Dyadic values so that floating-point arithmetic is exact.)"""
    log_p = torch.arange(B, dtype=torch.float64) * 0.25 - 3.0
    c = -1.5
    log_r = torch.full((B,), c, dtype=torch.float64)
    log_z = torch.full((B,), beta * c, dtype=torch.float64)
    assert torch.equal(rtb_delta(log_p, log_p.clone(), log_r, log_z, beta), torch.zeros(B, dtype=torch.float64))
    assert rtb(log_p, log_p.clone(), log_r, log_z, beta=beta).item() == 0.0


def test_rtb_zero_at_optimum_with_arbitrary_floats():
    log_p = torch.randn(B, dtype=torch.float64) * 100
    c = 0.1234567
    loss = rtb(log_p, log_p.clone(), torch.full((B,), c, dtype=torch.float64),
               torch.full((B,), 2 * c, dtype=torch.float64), beta=2.0)
    assert loss.item() < 1e-24


def test_rtb_gradient_vanishes_at_optimum():
    log_p = torch.randn(B, dtype=torch.float64)
    log_pf = log_p.clone().requires_grad_(True)
    log_z = torch.tensor(0.6, dtype=torch.float64, requires_grad=True)
    rtb(log_pf, log_p, torch.full((B,), 0.3, dtype=torch.float64), log_z.expand(B), beta=2.0).backward()
    assert log_pf.grad.abs().max().item() < 1e-12 and abs(log_z.grad.item()) < 1e-12


def test_rtb_nonzero_off_optimum_and_equals_mean_squared_delta():
    log_pf, log_ref, log_r = _batch()
    log_z = torch.full((B,), 0.4)
    d = log_z + log_pf - log_ref - 1.3 * log_r
    loss = rtb(log_pf, log_ref, log_r, log_z, beta=1.3)
    assert loss.item() > 0
    torch.testing.assert_close(loss, d.pow(2).mean())
    # a wrong log Z alone breaks the optimum
    log_p = torch.randn(B)
    assert rtb(log_p, log_p, torch.zeros(B), torch.full((B,), 0.1)).item() == pytest.approx(0.01)


def test_rtb_gradients():
    log_pf, log_ref, log_r = _batch()
    lpf = log_pf.clone().requires_grad_(True)
    log_z = torch.tensor(0.2, requires_grad=True)
    rtb(lpf, log_ref, log_r, log_z.expand(B)).backward()
    d = 0.2 + log_pf - log_ref - log_r
    torch.testing.assert_close(lpf.grad, 2 * d / B)
    torch.testing.assert_close(log_z.grad, 2 * d.mean())


def test_beta_scales_log_r():
    log_pf, log_ref, log_r = _batch()
    log_z = torch.full((B,), 0.5)
    torch.testing.assert_close(rtb(log_pf, log_ref, log_r, log_z, beta=2.5),
                               rtb(log_pf, log_ref, 2.5 * log_r, log_z, beta=1.0))


@pytest.mark.parametrize("clip", [0.0, 0.1, 3.0])
def test_tb_is_rtb_algebra(clip):
    log_pf, log_ref, log_r = _batch()
    log_z = torch.full((B,), -0.7)
    torch.testing.assert_close(tb(log_pf, log_ref, log_r, log_z, beta=0.8, clip=clip),
                               rtb(log_pf, log_ref, log_r, log_z, beta=0.8, clip=clip))


# ---- loss clipping ----

def test_loss_clipping_is_relu_of_squared_delta_minus_c():
    log_ref = torch.zeros(6)
    log_r = torch.zeros(6)
    log_pf = torch.tensor([0.0, 0.1, -0.3, 0.5, -2.0, 3.0], requires_grad=True)
    loss = rtb(log_pf, log_ref, log_r, torch.zeros(6), clip=0.1)
    want = torch.relu(log_pf.detach() ** 2 - 0.1).mean()
    torch.testing.assert_close(loss, want)
    loss.backward()
    small = log_pf.detach().pow(2) <= 0.1
    assert torch.equal(log_pf.grad[small], torch.zeros(int(small.sum())))  # inside the band: no gradient
    torch.testing.assert_close(log_pf.grad[~small], 2 * log_pf.detach()[~small] / 6)


def test_loss_clipping_zero_when_all_deltas_small():
    log_p = torch.randn(B)
    assert rtb(log_p + 0.05, log_p, torch.zeros(B), torch.zeros(B), clip=0.1).item() == 0.0
    assert vargrad(torch.randn(B) * 0.01, torch.zeros(B), torch.zeros(B), clip=0.1).item() == 0.0


def test_clip_zero_is_plain_loss():
    log_pf, log_ref, log_r = _batch()
    z = torch.full((B,), 0.3)
    torch.testing.assert_close(rtb(log_pf, log_ref, log_r, z, clip=0.0), rtb(log_pf, log_ref, log_r, z))


# ---- VarGrad ----

def test_vargrad_is_the_variance_of_the_log_weights():
    log_pf, log_ref, log_r = _batch()
    w = 1.5 * log_r + log_ref - log_pf
    torch.testing.assert_close(vargrad(log_pf, log_ref, log_r, beta=1.5), w.var(unbiased=False))
    torch.testing.assert_close(vargrad_log_z(log_pf, log_ref, log_r, beta=1.5), w.mean().expand(B))


def test_vargrad_invariant_to_constant_added_to_log_r():
    log_pf, log_ref, log_r = _batch()
    a = log_pf.clone().requires_grad_(True)
    b = log_pf.clone().requires_grad_(True)
    la = vargrad(a, log_ref, log_r, beta=0.5)
    lb = vargrad(b, log_ref, log_r + 123.0, beta=0.5)
    torch.testing.assert_close(la, lb, rtol=1e-4, atol=1e-4)
    la.backward(), lb.backward()
    torch.testing.assert_close(a.grad, b.grad, rtol=1e-3, atol=1e-4)


def test_vargrad_zero_at_optimum_with_nonconstant_reward():
    """p_post = p_prior r^beta / Z along every trajectory: log_pf - log_ref - beta log r = -log Z."""
    log_ref, log_r = torch.randn(B, dtype=torch.float64), torch.randn(B, dtype=torch.float64)
    log_pf = log_ref + 2.0 * log_r - 1.7
    assert vargrad(log_pf, log_ref, log_r, beta=2.0).item() < 1e-24


def test_vargrad_gradient_direction():
    """The sign pitfall: a trajectory whose posterior log-prob is too high relative to its target
    gets a positive gradient (gradient descent lowers it)."""
    log_ref, log_r = torch.zeros(4), torch.zeros(4)
    log_pf = torch.tensor([1.0, 0.0, 0.0, 0.0], requires_grad=True)
    vargrad(log_pf, log_ref, log_r).backward()
    assert log_pf.grad[0] > 0 and (log_pf.grad[1:] < 0).all()


def test_vargrad_log_z_groups_are_per_group_means():
    log_pf, log_ref, log_r = _batch()
    groups = torch.tensor([3, 1, 3, 1, 7, 7, 7, 1])
    est = log_r + log_ref - log_pf
    got = vargrad_log_z(log_pf, log_ref, log_r, groups=groups)
    for g in groups.unique():
        m = groups == g
        torch.testing.assert_close(got[m], est[m].mean().expand(int(m.sum())))


def test_vargrad_groups_invariant_to_per_group_constants():
    log_pf, log_ref, log_r = _batch()
    groups = torch.tensor([0, 1, 0, 1, 2, 2, 2, 1])
    shift = torch.tensor([10.0, -4.0, 2.5])[groups]
    with_groups = vargrad(log_pf, log_ref, log_r, groups=groups)
    torch.testing.assert_close(vargrad(log_pf, log_ref, log_r + shift, groups=groups), with_groups,
                               rtol=1e-4, atol=1e-4)
    # without groups, a per-condition offset in log Z is (wrongly) counted as error
    assert vargrad(log_pf, log_ref, log_r + shift).item() > with_groups.item() + 1.0


def test_vargrad_ignores_learned_log_z():
    log_pf, log_ref, log_r = _batch()
    torch.testing.assert_close(vargrad(log_pf, log_ref, log_r, torch.full((B,), 99.0)),
                               vargrad(log_pf, log_ref, log_r))


# ---- rl_kl ----

@pytest.mark.parametrize("beta,kl_weight", [(1.0, 1.0), (2.0, 0.5), (0.3, 0.0)])
def test_rl_kl_gradient_is_minus_advantage_over_batch(beta, kl_weight):
    log_pf, log_ref, log_r = _batch()
    lpf = log_pf.clone().requires_grad_(True)
    lref = log_ref.clone().requires_grad_(True)
    lr = log_r.clone().requires_grad_(True)
    rl_kl(lpf, lref, lr, beta=beta, kl_weight=kl_weight).backward()
    ret = beta * log_r - kl_weight * (log_pf - log_ref)
    adv = ret - ret.mean()
    torch.testing.assert_close(lpf.grad, -adv / B)
    assert lref.grad is None and lr.grad is None                 # rewards and prior are not differentiated


def test_rl_kl_has_zero_gradient_at_the_rtb_optimum():
    """With kl_weight = 1 the return beta log r - (log_pf - log_ref) is constant (= log Z) at the
    posterior, so the advantage and the gradient vanish."""
    log_ref, log_r = torch.randn(B, dtype=torch.float64), torch.randn(B, dtype=torch.float64)
    lpf = (log_ref + log_r - 0.4).requires_grad_(True)
    rl_kl(lpf, log_ref, log_r).backward()
    assert lpf.grad.abs().max().item() < 1e-12


@pytest.mark.parametrize("beta", [2.0, 20.0])
def test_ddpo_is_reinforce_with_the_standardised_reward_and_no_kl(beta):
    log_pf, log_ref, log_r = _batch()
    lp = log_pf.clone().requires_grad_(True)
    OBJECTIVES["ddpo"](lp, log_ref * 100, log_r, beta=beta).backward()     # the prior plays no part
    want = -((log_r - log_r.mean()) / log_r.std()) / len(log_r)              # the same for every beta
    assert torch.allclose(lp.grad, want, atol=1e-5)


@pytest.mark.parametrize("objective", [rtb, tb, vargrad])
def test_huber_is_squared_inside_linear_outside_with_the_gradient_bounded(objective):
    log_ref, log_r, log_z = torch.zeros(4), torch.tensor([0.0, 0.0, -10.0, -10.0]), torch.tensor(0.0)
    log_pf = torch.tensor([0.5, -1.0, 0.0, 3.0], requires_grad=True)
    delta = rtb_delta(log_pf, log_ref, log_r, log_z, 20.0).detach()      # 0.5, -1, 200, 203 (vargrad: centred)
    if objective is vargrad:
        delta = delta - delta.mean()
    h = 5.0
    want = torch.where(delta.abs() <= h, delta ** 2, 2 * h * delta.abs() - h ** 2).mean()
    loss = objective(log_pf, log_ref, log_r, log_z, beta=20.0, huber=h)
    torch.testing.assert_close(loss, want)
    g, = torch.autograd.grad(loss, log_pf)
    assert g.abs().max() <= 2 * h / 4 + 1e-6                             # bounded per trajectory (mean over 4)
    inside = delta.abs() <= h
    torch.testing.assert_close(g[inside], 2 * delta[inside] / 4 if objective is not vargrad else g[inside])
    # the exact posterior (zero residuals) is still a zero-loss, zero-gradient point
    lp = (log_ref + 20.0 * log_r - log_z).clone().requires_grad_(True)
    loss0 = objective(lp, log_ref, log_r, log_z, beta=20.0, huber=h)
    assert loss0.item() == 0 and torch.autograd.grad(loss0, lp)[0].abs().max() == 0
    # huber=0: the plain squared residual
    torch.testing.assert_close(objective(log_pf, log_ref, log_r, log_z, beta=20.0, huber=0.0),
                               objective(log_pf, log_ref, log_r, log_z, beta=20.0))


def test_target_nll_is_the_weighted_negative_log_likelihood_of_the_bank_rows():
    from rtb_lightning.objectives import target_nll

    log_pf = torch.tensor([-3.0, -5.0, -7.0, -2.0], requires_grad=True)
    rows = torch.tensor([False, True, True, False])
    loss = target_nll(log_pf, rows, weight=2.0)
    assert torch.isclose(loss, torch.tensor(2.0 * 12.0 / 4))
    loss.backward()
    torch.testing.assert_close(log_pf.grad, torch.tensor([0.0, -0.5, -0.5, 0.0]))   # -weight / B on bank rows only
