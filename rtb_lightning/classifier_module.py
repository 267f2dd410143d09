"""ClassifierModule: trains an image classifier on the domain's labelled data (stage=classifier).

Half of every batch is noised with Gaussian noise of std U(0, noise_max): the reward sees clean
terminals x (t = 0), but posterior and guidance samples are often slightly off the data manifold,
and classifier guidance evaluates it at noisy states.
"""

import lightning as L
import torch
from torch.nn import functional as F

from .annealing import warmup_cosine


def noise_half(x, noise_max):
    if noise_max <= 0:
        return x
    sigma = torch.rand(len(x), device=x.device) * noise_max
    sigma[: len(x) // 2] = 0.0
    return x + sigma.view(-1, *([1] * (x.dim() - 1))) * torch.randn_like(x)


class ClassifierModule(L.LightningModule):
    def __init__(self, net, lr=2e-3, total_steps=1000, noise_max=0.5, warmup_steps=50):
        super().__init__()
        self.net, self.lr, self.total_steps, self.noise_max, self.warmup_steps = net, lr, total_steps, noise_max, warmup_steps

    def training_step(self, batch, batch_idx):
        x, y = batch
        logits = self.net(noise_half(x, self.noise_max))
        loss = F.cross_entropy(logits, y)
        self.log("classifier/loss", loss, prog_bar=True)
        self.log("classifier/train_accuracy", (logits.argmax(1) == y).float().mean())
        return loss

    def configure_optimizers(self):
        opt = torch.optim.AdamW(self.net.parameters(), lr=self.lr, weight_decay=1e-4)

        # linear warm-up, then cosine decay to zero: sharp modes at the end
        sched = torch.optim.lr_scheduler.LambdaLR(opt, warmup_cosine(self.warmup_steps, self.total_steps))
        return {"optimizer": opt, "lr_scheduler": {"scheduler": sched, "interval": "step"}}


@torch.no_grad()
def accuracy(net, x, y, batch=1024):
    net.eval()
    correct = sum(int((net(x[i:i + batch]).argmax(1) == y[i:i + batch]).sum()) for i in range(0, len(x), batch))
    return correct / max(1, len(x))
