"""25-mode Gaussian mixture in 2-D (gfn-diffusion's 25GMM): modes on {-10,-5,0,5,10}^2, covariance 0.3 I,
equal weights. Normalised, so log Z = 0."""
from ..gmm import GaussianMixture
from .base import EnergyDomain

GRID = [-10.0, -5.0, 0.0, 5.0, 10.0]


class GMM25(EnergyDomain):
    name = "gmm25"
    dim = 2

    def __init__(self, batch_size=300, stage="posterior", var=0.3, eval_seed=1234):
        super().__init__(batch_size, stage, eval_seed)
        self.gmm = GaussianMixture([(a, b) for a in GRID for b in GRID], var)

    def log_density(self, x):
        return self.gmm.to(x.device).log_prob(x)

    @property
    def log_z(self):
        return 0.0

    def sample(self, n, generator=None):
        return self.gmm.sample(n, generator=generator)
