"""Energy domains: normalisation (quadrature / closed forms), exact samplers (moments), config checks."""
import math

import pytest
import torch

from rtb_lightning.domains import DOMAINS
from rtb_lightning.domains.energies import GMM25, Funnel, Manywell


def _grid_log_mass(log_p, lo, hi, n):
    """log of the 2-D integral of exp(log_p) over [lo, hi]^2 by the trapezoid rule (float64)."""
    g = torch.linspace(lo, hi, n, dtype=torch.float64)
    xx, yy = torch.meshgrid(g, g, indexing="ij")
    lp = log_p(torch.stack([xx.flatten(), yy.flatten()], 1)).view(n, n)
    w = torch.ones(n, dtype=torch.float64)
    w[0] = w[-1] = 0.5
    h = (hi - lo) / (n - 1)
    return torch.logsumexp(lp + (w[:, None] * w[None]).log(), (0, 1)).item() + 2 * math.log(h)


def test_registered():
    assert {"gmm25", "funnel", "manywell"} <= set(DOMAINS)


def test_gmm25_normalises_and_samples_match(float64):
    d = GMM25()
    assert _grid_log_mass(d.log_density, -14.0, 14.0, 801) == pytest.approx(d.log_z, abs=1e-6)
    x = d.reference_samples(20000)
    assert x.mean(0).abs().max() < 0.15                      # symmetric grid
    var = 50.0 + 0.3                                           # variance of the grid {-10..10} plus the mode's
    torch.testing.assert_close(x.var(0), torch.full((2,), var, dtype=x.dtype), rtol=0.03, atol=0)


def test_funnel_normalises_in_2d_and_samples_match(float64):
    d = Funnel(dim=2)
    # the neck is too thin for a fixed grid: integrate x_1 on a grid scaled by e^{x_0/2} at each x_0
    x0 = torch.linspace(-18.0, 18.0, 721, dtype=torch.float64)
    u = torch.linspace(-10.0, 10.0, 801, dtype=torch.float64)
    sd = torch.exp(0.5 * x0)
    pts = torch.stack([x0[:, None].expand(-1, len(u)), sd[:, None] * u[None]], -1).reshape(-1, 2)
    inner = torch.trapezoid(d.log_density(pts).view(len(x0), len(u)).exp() * sd[:, None], u, dim=1)
    assert torch.trapezoid(inner, x0).item() == pytest.approx(1.0, abs=1e-6)
    d10 = Funnel(dim=10)
    x = d10.reference_samples(50000)
    assert x[:, 0].std().item() == pytest.approx(3.0, rel=0.02)
    # E[x_i^2] = E[e^{x_0}] = e^{9/2}; check on log scale through E[log x_i^2 | x_0] = x_0 + E[log chi2_1]
    e_log_chi2 = -math.log(2) - 0.5772156649 - math.log(2) + math.log(2)   # digamma(1/2) + log 2
    resid = (x[:, 1:].pow(2).log() - x[:, :1]).mean().item()
    assert resid == pytest.approx(e_log_chi2, abs=0.03)
    # the density of exact samples: mean log p = -entropy, closed form for the funnel
    h0 = 0.5 * math.log(2 * math.pi * math.e * 9)
    assert -d10.log_density(x).mean().item() == pytest.approx(h0 + 9 * 0.5 * math.log(2 * math.pi * math.e), abs=0.05)


def test_funnel_far_out_is_nonfinite_not_an_exception():
    d = Funnel()
    x = torch.zeros(3, 10)
    x[:, 0] = torch.tensor([-200.0, 0.0, 200.0])
    x[:, 1] = 1.0
    lp = d.log_density(x)
    assert torch.isfinite(lp[1]) and not torch.isfinite(lp[0])


def test_an_overflowed_manywell_sample_has_a_nan_density():
    # why manywell.yaml drops non-finite rewards: an escaped trajectory that overflows gives NaN, not -inf
    x = torch.zeros(2, 4)
    x[1, 0] = float("inf")
    lp = Manywell(dim=4).log_density(x)
    assert torch.isfinite(lp[0]) and torch.isnan(lp[1])


def test_manywell_log_z_by_quadrature_and_samples(float64):
    d = Manywell(dim=32)
    assert d.log_z1 == pytest.approx(math.log(11784.50927), abs=1e-6)
    assert d.log_z == pytest.approx(16 * (math.log(11784.50927) + 0.5 * math.log(2 * math.pi)), abs=1e-4)
    d2 = Manywell(dim=2)                                         # the 2-D pair, integrated directly
    assert _grid_log_mass(d2.log_density, -5.0, 5.0, 1601) == pytest.approx(d2.log_z, abs=1e-5)
    x = d2.reference_samples(100000)
    g = torch.linspace(-4, 4, 40001, dtype=torch.float64)
    p = torch.exp(-g ** 4 + 6 * g ** 2 + 0.5 * g - d2.log_z1)
    h = g[1] - g[0]
    m1, m2 = (g * p).sum() * h, (g * g * p).sum() * h
    assert x[:, 0].mean().item() == pytest.approx(m1.item(), abs=0.01)
    assert x[:, 0].pow(2).mean().item() == pytest.approx(m2.item(), rel=0.01)
    assert x[:, 1].var().item() == pytest.approx(1.0, rel=0.02)
    assert (x[:, 0] > 0).double().mean().item() == pytest.approx((p[g > 0].sum() * h).item(), abs=0.005)


def test_manywell_minor_well_coverage_metric(float64):
    d = Manywell(dim=8)
    g = torch.linspace(-4, 0, 40001, dtype=torch.float64)          # left-well mass by quadrature, independently
    left = torch.trapezoid(torch.exp(-g ** 4 + 6 * g ** 2 + 0.5 * g - d.log_z1), g).item()
    assert d.minor_well_mass == pytest.approx(left, abs=1e-6) and 0.15 < left < 0.16
    exact = d.evaluate(d.reference_samples(3000))
    assert exact["minor_well_frac"] == pytest.approx(left, abs=0.015) and exact["minor_well_frac_true"] == d.minor_well_mass
    collapsed = d.reference_samples(500).clone()
    collapsed[:, 0::2] = collapsed[:, 0::2].abs()                  # every pair in the major well: the mode-seeking failure
    assert d.evaluate(collapsed)["minor_well_frac"] == 0.0


def test_energy_evaluation_reports_w2_as_the_root_of_w2_sq():
    d = GMM25()
    shifted = d.reference_samples(400, seed=3) + torch.tensor([3.0, 4.0])   # a shift of length 5: W2 >= 5
    m = d.evaluate(shifted)
    assert m["w2"] == pytest.approx(m["w2_sq"] ** 0.5) and m["w2"] > 5.0 > d.evaluate(d.reference_samples(400, seed=3))["w2"]


def test_energy_evaluations_are_counted():
    d = GMM25()
    d.log_reward(torch.zeros(7, 2))
    d.log_reward(torch.zeros(5, 2))
    assert d.num_energy_evals == 12
