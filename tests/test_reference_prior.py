"""prior.kind=reference: the uncontrolled process itself as the prior."""
import torch

from rtb_lightning.builders import reference_prior
from rtb_lightning.processes import PinnedBrownianProcess, VPProcess


def test_uncontrolled_vp_reference_keeps_the_standard_normal():
    """With variance=large every step is x -> sqrt(alpha) x + sqrt(beta) n: N(0, I) is invariant,
    so the reference's terminal marginal is the generator's latent prior N(0, I)."""
    torch.manual_seed(0)
    proc = VPProcess((4,), num_steps=25, num_train_steps=1000, schedule="cosine", variance="large", min_std=0.0)
    states, _ = proc.sample(reference_prior(proc), 20000)
    for i in (0, 12, 25):
        x = states[:, i]
        assert x.mean(0).abs().max() < 0.03
        assert (x.std(0) - 1).abs().max() < 0.03
    # consecutive states are correlated (a real Markov chain, not fresh noise each step)
    c = torch.corrcoef(torch.stack([states[:, 10, 0], states[:, 11, 0]]))[0, 1]
    assert 0.5 < c < 0.9999


def test_brownian_reference_is_zero_drift_with_gaussian_terminal():
    torch.manual_seed(0)
    proc = PinnedBrownianProcess((3,), num_steps=20, t_scale=2.0)
    states, _ = proc.sample(reference_prior(proc), 20000)
    assert torch.equal(states[:, 0], torch.zeros(20000, 3))
    assert (states[:, -1].var(0) / 2.0 - 1).abs().max() < 0.04
