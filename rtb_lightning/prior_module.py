"""DiffusionPriorModule: trains a prior network on a domain's data with the DDPM objective."""

import lightning as L
import torch

from .annealing import warmup_cosine


class DiffusionPriorModule(L.LightningModule):
    def __init__(self, process, net, lr=2e-3, total_steps=3000, warmup_steps=100):
        super().__init__()
        self.process, self.net = process, net
        self.lr, self.total_steps, self.warmup_steps = lr, total_steps, warmup_steps

    def training_step(self, batch, batch_idx):
        x, cond = (batch if isinstance(batch, (tuple, list)) else (batch, None))
        loss = self.process.diffusion_loss(self.net, x, cond)
        self.log("prior/loss", loss, prog_bar=True)
        return loss

    def configure_optimizers(self):
        opt = torch.optim.Adam(self.net.parameters(), lr=self.lr)

        # linear warm-up, then cosine decay to zero: sharp modes at the end
        sched = torch.optim.lr_scheduler.LambdaLR(opt, warmup_cosine(self.warmup_steps, self.total_steps))
        return {"optimizer": opt, "lr_scheduler": {"scheduler": sched, "interval": "step"}}
