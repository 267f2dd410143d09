"""Evaluation every N steps and at the end: domain metrics, log Z estimates, KL, figure, metrics.json.

Runs on rank 0 only (it uses no collectives), so other ranks keep training meanwhile.
"""
import json
import time
from pathlib import Path

import lightning as L
import torch

from ..checkpoint_io import atomic_write_text
from ..metrics import log_z_estimates


class EvaluationCallback(L.Callback):
    def __init__(self, domain, run_dir, every_n_steps=100, num_samples=2000, start_time=None):
        self.domain, self.run_dir = domain, Path(run_dir)
        self.every_n_steps, self.num_samples = every_n_steps, num_samples
        self.start_time = time.time() if start_time is None else start_time
        self.history, self.prior_x, self.final = [], None, None

    @torch.no_grad()
    def _samples(self, module, sampler):
        xs, n = [], self.num_samples
        while n > 0:
            m = min(n, module.batch_size)
            cond = self.domain.sample_conditions(m)
            xs.append(sampler(m, None if cond is None else cond.to(module.device)))
            n -= m
        return xs

    @torch.no_grad()
    def evaluate(self, trainer, module):
        beta = module.beta(trainer.global_step)

        def post(m, cond):
            states, lp, lref = module.sample_scored(m, cond)
            g = module.reward_log_r(states[:, -1], cond)
            return states[:, -1], lp, lref, g.log_r, cond

        parts = self._samples(module, post)
        x, log_pf, log_ref, log_r = (torch.cat([p[i] for p in parts]) for i in range(4))
        cond = None if parts[0][4] is None else torch.cat([p[4] for p in parts])
        elbo, iw, kl = log_z_estimates(log_pf, log_ref, log_r, beta)
        metrics = {**self.domain.evaluate(x, cond), "mean_log_r": log_r.mean().item(),
                   "log_z": module.log_z(cond, len(x)).mean().item(), "log_z_elbo": elbo, "log_z_iw": iw,
                   "kl_post_prior": kl, **self.domain.evaluate_sampler(module, log_pf, log_ref, log_r)}
        return x, metrics

    def _log(self, trainer, module, final=False):
        x, metrics = self.evaluate(trainer, module)
        step, wall = trainer.global_step, time.time() - self.start_time
        self.history.append({"step": step, "wall_s": round(wall, 2), **metrics})
        if trainer.logger is not None:
            trainer.logger.log_metrics({f"eval/{k}": v for k, v in metrics.items()}, step=step)
        fig = self.domain.plot(self.prior_x, x, self.run_dir / "samples.png" if final else None)
        if fig is not None:
            if trainer.logger is not None and hasattr(trainer.logger, "experiment"):
                trainer.logger.experiment.add_figure("samples", fig, global_step=step)
            import matplotlib.pyplot as plt
            plt.close(fig)
        return metrics

    # Saved in checkpoints, so a resumed run's metrics.json keeps the history and the wall clock.
    def state_dict(self):
        return {"history": self.history, "elapsed_s": time.time() - self.start_time}

    def load_state_dict(self, state):
        self.history = state["history"]
        self.start_time = time.time() - state["elapsed_s"]

    def on_fit_start(self, trainer, module):
        if trainer.is_global_zero:
            with torch.no_grad():
                parts = self._samples(module, lambda m, c: (module.process.sample(module.prior, m, c)[0][:, -1], c))
            self.prior_x = torch.cat([p[0] for p in parts])
            cond = None if parts[0][1] is None else torch.cat([p[1] for p in parts])
            self.prior_metrics = self.domain.evaluate(self.prior_x, cond)

    def on_train_batch_end(self, trainer, module, outputs, batch, batch_idx):
        step = trainer.global_step
        if trainer.is_global_zero and self.every_n_steps and step % self.every_n_steps == 0 and step < trainer.max_steps:
            self._log(trainer, module)

    @torch.no_grad()
    def _ddp_report(self, trainer, module):
        """A collective check that all ranks share log Z but drew different samples (all ranks call it)."""
        if trainer.world_size == 1:
            return {}
        probe = getattr(module, "last_fresh", torch.zeros(0, device=module.device)).flatten()
        summary = torch.cat([p.reshape(-1) for p in module.log_z.parameters()]).mean()   # any log Z form
        rows = module.all_gather(torch.cat([summary.reshape(1), probe.to(module.device)]))
        distinct = all(not torch.equal(rows[i, 1:], rows[j, 1:])
                       for i in range(len(rows)) for j in range(i + 1, len(rows)))
        return {"world_size": trainer.world_size, "log_z_spread_across_ranks": (rows[:, 0].max() - rows[:, 0].min()).item(),
                "ranks_drew_distinct_samples": bool(distinct)}

    def on_train_end(self, trainer, module):
        ddp = self._ddp_report(trainer, module)
        if trainer.is_global_zero:
            self._finish(trainer, module, ddp)

    def on_fit_end(self, trainer, module):
        # Resumed from a checkpoint already at max_steps (killed during the final evaluation): Lightning
        # skips the training loop and on_train_end, so the final evaluation runs here.
        if self.final is None and trainer.is_global_zero and trainer.max_steps > 0 and \
                trainer.global_step >= trainer.max_steps:
            module.restore_pending_rng()
            self._finish(trainer, module, {})

    def _finish(self, trainer, module, ddp):
        metrics = self._log(trainer, module, final=True)
        self.final = {**metrics, "step": trainer.global_step, "wall_s": round(time.time() - self.start_time, 2),
                      "skipped_steps": module.skipped_steps, **ddp,
                      **{f"prior_{k}": v for k, v in self.prior_metrics.items()}, "history": self.history}
        atomic_write_text(json.dumps(self.final, indent=2), self.run_dir / "metrics.json")
        print(format_table(metrics, self.prior_metrics, trainer.global_step))


def format_table(metrics, prior_metrics, step):
    lines = [f"\nfinal metrics after {step} steps", f"  {'metric':<16}{'posterior':>12}{'prior':>12}"]
    for k, v in metrics.items():
        p = prior_metrics.get(k)
        lines.append(f"  {k:<16}{v:>12.4f}{'' if p is None else format(p, '>12.4f')}")
    return "\n".join(lines)
