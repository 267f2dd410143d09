"""Labelled image datasets as domains: data for the prior and the classifiers, a classifier reward,
class conditions for amortized posteriors, and image metrics.

A subclass only loads its images (N, C, H, W) in model coordinates [-1, 1] with integer labels.
The reward (a classifier, or any callable) and the evaluator (a separate classifier) are attached
by the builders after they are trained or loaded, so a domain object stays cheap to construct.
"""
import torch
from torch.utils.data import DataLoader

from ..errors import ConfigError
from .base import Domain, _Stream


class ImageDomain(Domain):
    num_classes = 10
    holdout_fraction = 0.2           # classifier validation split (fixed permutation)

    def __init__(self, batch_size=256, stage="posterior", classes=None, conditional=False):
        super().__init__(batch_size, stage)
        self.conditional = conditional
        self.classes = self.check_classes(classes)
        self._data, self._reward, self.evaluator, self._train_idx = None, None, None, None

    # --- data ---
    def load(self):
        """(images float (N, C, H, W) in [-1, 1], labels long (N,))."""
        raise NotImplementedError

    @property
    def data(self):
        if self._data is None:
            x, y = self.load()
            self.check_images(x, y)
            self._data = (x, y)
        return self._data

    def check_images(self, x, y):
        if x.dim() != 4 or tuple(x.shape[1:]) != tuple(self.event_shape):
            raise ConfigError(f"{self.name}: images have shape {tuple(x.shape[1:])}, expected {tuple(self.event_shape)} "
                              "(channels, height, width)", "check the data folder and the domain's image settings")
        if len(x) != len(y):
            raise ConfigError(f"{self.name}: {len(x)} images but {len(y)} labels", "check the data folder")
        if len(y) and (int(y.min()) < 0 or int(y.max()) >= self.num_classes):
            raise ConfigError(f"{self.name}: labels outside 0..{self.num_classes - 1}", "check the label file")

    def split(self):
        """(train indices, held-out indices): a fixed permutation, independent of the run's seed."""
        n = len(self.data[1])
        perm = torch.randperm(n, generator=torch.Generator().manual_seed(12345))
        k = int(round(self.holdout_fraction * n))
        return perm[k:], perm[:k]

    def prior_data(self, n):
        x = self.data[0]
        return x[torch.randint(len(x), (n,))]

    def classifier_data(self, n):
        x, y = self.data
        if self._train_idx is None:
            self._train_idx = self.split()[0]
        pick = self._train_idx[torch.randint(len(self._train_idx), (n,))]
        return x[pick], y[pick]

    def real_images(self, classes):
        x, y = self.data
        return x[torch.isin(y, torch.as_tensor(list(classes)))]

    # --- classes and conditions ---
    def check_classes(self, classes):
        if classes is None:
            return list(range(self.num_classes)) if self.conditional else [self.default_class]
        classes = [classes] if isinstance(classes, int) else list(classes)
        bad = [c for c in classes if not isinstance(c, int) or not 0 <= c < self.num_classes]
        if not classes or bad:
            raise ConfigError(f"reward.classes={classes} is not a non-empty list of classes in 0..{self.num_classes - 1}",
                              f"e.g. reward.classes=[3] or reward.classes=[0,2,4,6,8]")
        return sorted(set(classes))

    default_class = 3

    def sample_conditions(self, n):
        if not self.conditional:
            return None
        c = torch.as_tensor(self.classes)
        return c[torch.randint(len(c), (n,))]

    # --- reward and metrics (attached by the builders) ---
    def set_reward(self, fn):
        self._reward = fn

    def log_reward(self, x, cond=None):
        if self._reward is None:
            raise RuntimeError(f"{self.name}: no reward attached (builders.build_reward does it)")
        return self._reward(x, cond)

    def evaluate(self, x, cond=None):
        if self.evaluator is None:
            return {}
        return self.evaluator(x, cond)

    def plot(self, prior_x, post_x, path=None, cond=None):
        from ..plotting import image_grid_figure

        return image_grid_figure(prior_x.cpu(), post_x.cpu(), path)

    # --- Lightning plumbing: the classifier stage streams labelled batches ---
    def train_dataloader(self):
        if self.stage == "classifier":
            return DataLoader(_Stream(lambda: self.classifier_data(self.batch_size)), batch_size=None, num_workers=0)
        return super().train_dataloader()
