"""GeneratorModule: trains an embedded generator (a VAE, a flow) on a domain's data by its own loss."""

import lightning as L
import torch

from .annealing import warmup_cosine


class GeneratorModule(L.LightningModule):
    def __init__(self, net, lr=1e-3, total_steps=3000, warmup_steps=100):
        super().__init__()
        self.net, self.lr, self.total_steps, self.warmup_steps = net, lr, total_steps, warmup_steps

    def training_step(self, batch, batch_idx):
        x = batch[0] if isinstance(batch, (tuple, list)) else batch
        loss = self.net.loss(x).mean()
        self.log("generator/loss", loss, prog_bar=True)
        return loss

    def configure_optimizers(self):
        opt = torch.optim.Adam(self.net.parameters(), lr=self.lr)
        sched = torch.optim.lr_scheduler.LambdaLR(opt, warmup_cosine(self.warmup_steps, self.total_steps))
        return {"optimizer": opt, "lr_scheduler": {"scheduler": sched, "interval": "step"}}
