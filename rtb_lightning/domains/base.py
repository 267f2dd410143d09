"""A domain is a DataModule-like trajectory source: data for prior training, the reward, the
conditions to train on, reference data and metrics for evaluation, and plots."""
import lightning as L
import torch
from torch.utils.data import DataLoader, IterableDataset


class _Stream(IterableDataset):
    """An endless stream of batches made by fn(); each rank draws from its own torch RNG."""

    def __init__(self, fn):
        self.fn = fn

    def __iter__(self):
        while True:
            yield self.fn()


class Domain(L.LightningDataModule):
    name = "domain"
    event_shape: tuple = ()

    def __init__(self, batch_size: int = 256, stage: str = "posterior"):
        super().__init__()
        self.batch_size, self.stage = batch_size, stage

    # --- what a domain must provide ---
    def log_reward(self, x, cond=None):
        raise NotImplementedError

    def prior_data(self, n):
        """A batch of training data for the diffusion prior (model coordinates)."""
        raise NotImplementedError

    def prior_trainee(self, net):
        """What the prior stage fits to prior_data (default: the prior network itself)."""
        return net

    def posterior_base(self, prior):
        """The frozen base of a residual posterior (default: the prior; its target stays prior * r)."""
        return prior

    def analytic_prior(self, process):
        """A network with the exact prior (optional)."""
        return None

    conditional = False       # True where sample_conditions returns conditions (an amortised posterior)

    def sample_conditions(self, n):
        """What to condition on; None for an unconditional posterior."""
        return None

    def evaluate(self, x, cond=None) -> dict:
        """Domain metrics of posterior samples x (model coordinates)."""
        return {}

    def evaluate_sampler(self, module, log_pf, log_ref, log_r) -> dict:
        """Metrics that need the module or the samples' log-prob sums (e.g. log Z errors, EUBO); optional."""
        return {}

    def plot(self, prior_x, post_x, path=None):
        return None

    # --- Lightning plumbing ---
    def train_dataloader(self):
        if self.stage in ("prior", "generator"):      # data batches for a model of the data
            fn = lambda: self.prior_data(self.batch_size)
        else:
            # The posterior draws its own trajectories; the loader only paces steps and carries conditions.
            fn = lambda: (c if (c := self.sample_conditions(self.batch_size)) is not None
                          else torch.zeros(self.batch_size, 0))
        return DataLoader(_Stream(fn), batch_size=None, num_workers=0)
