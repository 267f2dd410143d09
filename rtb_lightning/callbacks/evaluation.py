"""Evaluation every N steps and at the end: domain metrics, log Z estimates, KL, figure, metrics.json.

DDP: every rank draws its share of the samples and rank 0 gathers them all before computing the
metrics (FID, accuracy, diversity and log Z estimates see every rank's samples); only rank 0 logs
and writes. Every rank therefore calls the evaluation hooks.
"""
import json
import time
from pathlib import Path

import lightning as L
import torch

from ..checkpoint_io import atomic_write_text
from ..distributed import gather_objects
from ..metrics import log_z_estimates


class EvaluationCallback(L.Callback):
    def __init__(self, domain, run_dir, every_n_steps=100, num_samples=2000, start_time=None):
        self.domain, self.run_dir = domain, Path(run_dir)
        self.every_n_steps, self.num_samples = every_n_steps, num_samples
        self.start_time = time.time() if start_time is None else start_time
        self.history, self.prior_x, self.final, self.finished = [], None, None, False

    @torch.no_grad()
    def _samples(self, trainer, module, sampler):
        """This rank's share of num_samples, then every rank's parts gathered (on CPU, in rank order):
        a list of tuples of tensors, num_samples rows in all."""
        world, xs = trainer.world_size, []
        n = -(-self.num_samples // world)                        # ceil: this rank's share
        while n > 0:
            m = min(n, module.batch_size)
            cond = self.domain.sample_conditions(m)
            xs.append(tuple(None if v is None else v.cpu() for v in sampler(m, None if cond is None else cond.to(module.device))))
            n -= m
        gathered = gather_objects(xs)
        self.samples_per_rank = [sum(len(p[0]) for p in rank_parts) for rank_parts in gathered]
        return _trim([p for rank_parts in gathered for p in rank_parts], self.num_samples)

    @torch.no_grad()
    def evaluate(self, trainer, module):
        """All ranks sample; rank 0 returns (samples, metrics), other ranks (None, None)."""
        beta = module.beta(trainer.global_step)

        def post(m, cond):
            states, lp, lref = module.sample_scored(m, cond)
            g = module.reward_log_r(states[:, -1], cond)
            return states[:, -1], lp, lref, g.log_r, cond

        parts = self._samples(trainer, module, post)
        if not trainer.is_global_zero:
            return None, None
        dev = module.device
        x, log_pf, log_ref, log_r = (torch.cat([p[i] for p in parts]).to(dev) for i in range(4))
        cond = None if parts[0][4] is None else torch.cat([p[4] for p in parts]).to(dev)
        elbo, iw, kl = log_z_estimates(log_pf, log_ref, log_r, beta)
        metrics = {**self.domain.evaluate(x, cond), "mean_log_r": log_r.mean().item(),
                   "log_z": module.log_z(cond, len(x)).mean().item(), "log_z_elbo": elbo, "log_z_iw": iw,
                   "kl_post_prior": kl, **self.domain.evaluate_sampler(module, log_pf, log_ref, log_r),
                   "eval_num_samples": len(x)}
        return x, metrics

    def _log(self, trainer, module, final=False):
        x, metrics = self.evaluate(trainer, module)
        if metrics is None:                       # ranks > 0: sampled their share, rank 0 reports
            return None
        step, wall = trainer.global_step, time.time() - self.start_time
        self.history.append({"step": step, "wall_s": round(wall, 2), **metrics})
        # Rewritten at every evaluation: a run killed before its end still leaves its numbers.
        atomic_write_text(json.dumps(self.history, indent=1), self.run_dir / "eval_history.json")
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
        with torch.no_grad():
            parts = self._samples(trainer, module,
                                  lambda m, c: (module.process.sample(module.prior, m, c)[0][:, -1], c))
        if trainer.is_global_zero:
            self.prior_x = torch.cat([p[0] for p in parts]).to(module.device)
            cond = None if parts[0][1] is None else torch.cat([p[1] for p in parts]).to(module.device)
            self.prior_metrics = self.domain.evaluate(self.prior_x, cond)

    def on_train_batch_end(self, trainer, module, outputs, batch, batch_idx):
        step = trainer.global_step
        if self.every_n_steps and step % self.every_n_steps == 0 and step < trainer.max_steps:
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
        self._finish(trainer, module, self._ddp_report(trainer, module))

    def on_fit_end(self, trainer, module):
        # Resumed from a checkpoint already at max_steps (killed during the final evaluation): Lightning
        # skips the training loop and on_train_end, so the final evaluation runs here.
        if not self.finished and trainer.max_steps > 0 and trainer.global_step >= trainer.max_steps:
            module.restore_pending_rng()
            self._finish(trainer, module, {})

    def _finish(self, trainer, module, ddp):
        self.finished = True                      # on every rank (each calls the final evaluation once)
        metrics = self._log(trainer, module, final=True)
        if metrics is None:
            return
        self.final = {**metrics, "step": trainer.global_step, "wall_s": round(time.time() - self.start_time, 2),
                      "skipped_steps": module.skipped_steps, **ddp,
                      "eval_samples_per_rank": self.samples_per_rank,
                      **{f"prior_{k}": v for k, v in self.prior_metrics.items()}, "history": self.history}
        atomic_write_text(json.dumps(self.final, indent=2), self.run_dir / "metrics.json")
        print(format_table(metrics, self.prior_metrics, trainer.global_step))


def _trim(parts, n):
    """The first n rows of a list of tuples of tensors (rank shares are rounded up)."""
    out = []
    for p in parts:
        if n <= 0:
            break
        out.append(tuple(None if v is None else v[:n] for v in p))
        n -= len(p[0])
    return out


def format_table(metrics, prior_metrics, step):
    lines = [f"\nfinal metrics after {step} steps", f"  {'metric':<16}{'posterior':>12}{'prior':>12}"]
    for k, v in metrics.items():
        p = prior_metrics.get(k)
        lines.append(f"  {k:<16}{v:>12.4f}{'' if p is None else format(p, '>12.4f')}")
    return "\n".join(lines)
