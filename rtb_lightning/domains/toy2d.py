"""The 2-D toy: a 25-mode Gaussian-mixture prior, reward N9/p25, so the posterior is a 9-mode mixture.

Settings follow the RTB paper's toy (notes/rtb.md section 5). The model works in coordinates
scaled by 1/scale so that the data has roughly unit variance; metrics and plots use data units.
"""
import torch

from ..metrics import emd, mode_tv, off_mode_fraction
from .base import Domain
from .gmm import AnalyticVPPrior, GaussianMixture

GRID = [-10.0, -5.0, 0.0, 5.0, 10.0]
POSTERIOR_MODES = [(-10, -5), (-5, -10), (-5, 0), (10, -5), (0, 0), (0, 5), (5, -5), (5, 0), (5, 10)]
POSTERIOR_WEIGHTS = [4, 10, 4, 5, 10, 5, 4, 15, 4]


class Toy2D(Domain):
    name = "toy2d"
    event_shape = (2,)

    def __init__(self, batch_size=256, stage="posterior", scale=7.0, var=0.3, off_mode_radius=2.0,
                 eval_seed=1234):
        super().__init__(batch_size, stage)
        self.scale, self.off_mode_radius, self.eval_seed = scale, off_mode_radius, eval_seed
        self.prior_gmm = GaussianMixture([(a, b) for a in GRID for b in GRID], var)
        self.target_gmm = GaussianMixture(POSTERIOR_MODES, var, POSTERIOR_WEIGHTS)
        # Target weight of each of the 25 prior modes (zero off the 9 posterior modes).
        tw = torch.zeros(len(self.prior_gmm.means))
        for (m, w) in zip(POSTERIOR_MODES, torch.tensor(POSTERIOR_WEIGHTS, dtype=torch.float) / sum(POSTERIOR_WEIGHTS)):
            tw[((self.prior_gmm.means - torch.tensor(m, dtype=torch.float)).abs().sum(1) == 0).nonzero()[0, 0]] = w
        self.target_weights = tw

    def to_data(self, x):
        return x * self.scale

    def log_reward(self, x, cond=None):
        y = self.to_data(x)
        return self.target_gmm.log_prob(y) - self.prior_gmm.log_prob(y)

    def prior_data(self, n):
        return self.prior_gmm.sample(n) / self.scale

    def analytic_prior(self, process):
        if not hasattr(process, "alpha_bar"):
            return None          # the exact noised score is derived for the VP chain only
        return AnalyticVPPrior(self.prior_gmm.scaled(self.scale), process.alpha_bar)

    def reference_samples(self, n, seed=None):
        """Exact posterior samples in data units (a fixed seed so evaluations compare like with like)."""
        g = torch.Generator().manual_seed(self.eval_seed if seed is None else seed)
        return self.target_gmm.sample(n, generator=g)

    def evaluate(self, x, cond=None):
        y = self.to_data(x.detach().cpu().float())
        return {
            "emd": emd(y, self.reference_samples(len(y))),
            "mode_tv": mode_tv(y, self.prior_gmm.means, self.target_weights),
            "off_mode_frac": off_mode_fraction(y, self.target_gmm.means, self.off_mode_radius),
        }

    def plot(self, prior_x, post_x, path=None):
        from ..plotting import toy2d_figure

        return toy2d_figure(self, self.to_data(prior_x.cpu()), self.to_data(post_x.cpu()), path)
