"""Infilling evaluation on held-out stories: BLEU-4 / GLEU-4 of sampled middles against the true
ones, mean log r, diversity, with the baselines in the same metrics.json (prior_*: the prior, which
reads the beginning only; prompted_*: the same prior shown the end too, by masking; best_of_N_*:
the best of N prior samples by reward; sft_*: the supervised upper bound), and example infills.

Several samples per held-out context: BLEU/GLEU pool all of them against the context's true
middle; distinct-n is measured within each context's samples, then averaged (diversity of the
infills of one story, not of the corpus).
"""
import json
import time
from pathlib import Path

import lightning as L
import torch

from ..checkpoint_io import atomic_write_text
from ..metrics.bleu import corpus_bleu, corpus_gleu, distinct_n


class TextEvaluationCallback(L.Callback):
    def __init__(self, domain, run_dir, every_n_steps=100, start_time=None, samples_per_context=4, best_of=8,
                 examples=8, sft_steps=0, sft_lr=2e-3):
        self.domain, self.run_dir = domain, Path(run_dir)
        self.sft_steps, self.sft_lr = sft_steps, sft_lr
        self.every_n_steps, self.k, self.best_of, self.num_examples = every_n_steps, samples_per_context, best_of, examples
        self.start_time = time.time() if start_time is None else start_time
        self.history, self.baselines, self.final = [], {}, None
        self.prior_samples = self.prompted_samples = None

    # ---- sampling ----
    def _conditions(self, module):
        cond, truth = self.domain.eval_data()
        return cond.to(module.device), truth

    @torch.no_grad()
    def _batched(self, module, cond, fn):
        outs = [fn(cond[a:a + module.batch_size]) for a in range(0, len(cond), module.batch_size)]
        return [torch.cat([o[i] for o in outs]) for i in range(len(outs[0]))]

    def _reward(self, module, x, cond):
        return module.reward_log_r(x, cond, step=0).log_r

    def text_metrics(self, x, log_r, truth):
        """x (N*k, L) samples, k consecutive per context; truth (N, L)."""
        d, k = self.domain, self.k
        hyps = [d.words(s) for s in x.cpu()]
        refs = [d.words(t) for t in truth.repeat_interleave(k, 0)]
        groups = [hyps[i:i + k] for i in range(0, len(hyps), k)]
        return {"bleu4": corpus_bleu(hyps, refs), "gleu4": corpus_gleu(hyps, refs),
                "mean_log_r": log_r.mean().item(),
                "exact_match": sum(h == r for h, r in zip(hyps, refs)) / len(hyps),
                "distinct_1": sum(distinct_n(g, 1) for g in groups) / len(groups),
                "distinct_2": sum(distinct_n(g, 2) for g in groups) / len(groups)}

    def _sample(self, module, net, cond):
        """Terminal samples of a denoiser under the shared process, with their log r (batched)."""
        def one(c):
            x = module.process.sample(net, len(c), c)[0][:, -1]
            return x, self._reward(module, x, c)
        return self._batched(module, cond, one)

    @torch.no_grad()
    def baseline_metrics(self, module):
        """The prior (end hidden: it reads the beginning only), the same prior prompted with the end too (by
        masking, no fine-tuning), best-of-N prior samples ranked by the reward, and (sft_steps > 0)
        the supervised upper bound."""
        cond, truth = self._conditions(module)
        rep = cond.repeat_interleave(self.k, 0)
        x_pr, lr_pr = self._sample(module, module.prior, rep)
        x_all, lr_all = self._sample(module, module.prior, rep.repeat_interleave(self.best_of, 0))
        best = lr_all.view(-1, self.best_of).argmax(1)
        x_best = x_all.view(-1, self.best_of, x_all.shape[-1])[torch.arange(len(best)), best]
        lr_best = lr_all.view(-1, self.best_of)[torch.arange(len(best)), best]
        self.prior_samples, self.prompted_samples = x_pr, None
        out = {**{f"prior_{k}": v for k, v in self.text_metrics(x_pr, lr_pr, truth).items()},
               **{f"best_of_{self.best_of}_{k}": v for k, v in self.text_metrics(x_best, lr_best, truth).items()}}
        prompted = self.domain.prompted_prior(module.prior)
        if prompted is not None:
            self.prompted_samples, lr_pp = self._sample(module, prompted, rep)
            out.update({f"prompted_{k}": v for k, v in self.text_metrics(self.prompted_samples, lr_pp, truth).items()})
        if self.sft_steps:
            x_sft, lr_sft = self._sample(module, self.supervised_model(module), rep)
            out.update({f"sft_{k}": v for k, v in self.text_metrics(x_sft, lr_sft, truth).items()})
        return out

    def supervised_model(self, module):
        """Upper-bound baseline: a denoiser of the prior's size that reads beginning *and* end, trained
        by the chain's bound on the true middles of the training stories (supervised fine-tuning's target)."""
        from types import SimpleNamespace

        net_cfg = SimpleNamespace(hidden=module.prior.out.in_features, layers=len(module.prior.body.layers))
        net = self.domain.build_network(net_cfg, role="posterior").to(module.device)
        opt = torch.optim.Adam(net.parameters(), lr=self.sft_lr)
        with torch.enable_grad():
            for step in range(self.sft_steps):
                for g in opt.param_groups:          # cosine decay, as for the prior
                    g["lr"] = self.sft_lr * 0.5 * (1 + torch.cos(torch.tensor(step / self.sft_steps * 3.14159)).item())
                x, c = self.domain.prior_data(self.domain.reward_model_cfg["batch_size"])
                loss = module.process.diffusion_loss(net, x.to(module.device), c.to(module.device))
                opt.zero_grad()
                loss.backward()
                opt.step()
        return net.eval()

    @torch.no_grad()
    def evaluate(self, trainer, module):
        cond, truth = self._conditions(module)
        rep = cond.repeat_interleave(self.k, 0)
        post = lambda c: (lambda s: (s[0][:, -1], s[1], s[2], self._reward(module, s[0][:, -1], c)))(module.sample_scored(len(c), c))
        x, log_pf, log_ref, log_r = self._batched(module, rep, post)
        metrics = self.text_metrics(x, log_r, truth)
        metrics["log_z"] = module.log_z(rep, len(rep)).mean().item()
        metrics["kl_post_prior"] = (log_pf - log_ref).mean().item()
        return x, metrics

    # ---- hooks ----
    def on_fit_start(self, trainer, module):
        if trainer.is_global_zero:
            self.baselines = self.baseline_metrics(module)

    def _log(self, trainer, module):
        x, metrics = self.evaluate(trainer, module)
        step = trainer.global_step
        self.history.append({"step": step, "wall_s": round(time.time() - self.start_time, 2), **metrics})
        if trainer.logger is not None:
            trainer.logger.log_metrics({f"eval/{k}": v for k, v in metrics.items()}, step=step)
        return x, metrics

    def on_train_batch_end(self, trainer, module, outputs, batch, batch_idx):
        step = trainer.global_step
        if trainer.is_global_zero and self.every_n_steps and step % self.every_n_steps == 0 and step < trainer.max_steps:
            self._log(trainer, module)

    def on_train_end(self, trainer, module):
        if not trainer.is_global_zero:
            return
        x, metrics = self._log(trainer, module)
        self.final = {**metrics, **self.baselines, "step": trainer.global_step,
                      "wall_s": round(time.time() - self.start_time, 2), "skipped_steps": module.skipped_steps,
                      "samples_per_context": self.k, "num_eval_stories": len(self.domain.eval_data()[0]),
                      "history": self.history}
        atomic_write_text(json.dumps(self.final, indent=2), self.run_dir / "metrics.json")
        atomic_write_text(self.examples(x), self.run_dir / "examples.txt")
        print(self.table())
        print(self.examples(x, 3))

    def examples(self, x, n=None):
        d, (cond, truth) = self.domain, self.domain.eval_data()
        lb = d.lengths[0]
        lines = []
        for i in range(min(n or self.num_examples, len(cond))):
            lines += [f"beginning:  {d.decode(cond[i, :lb])}", f"end:        {d.decode(cond[i, lb:])}",
                      f"true:       {d.decode(truth[i])}", f"prior:      {d.decode(self.prior_samples[i * self.k])}"]
            if self.prompted_samples is not None:
                lines.append(f"prompted:   {d.decode(self.prompted_samples[i * self.k])}")
            lines += [f"posterior:  {d.decode(x[i * self.k])}", ""]
        return "\n".join(lines)

    def table(self):
        keys = ("bleu4", "gleu4", "mean_log_r", "exact_match", "distinct_1", "distinct_2")
        cols = [("posterior", ""), ("prior", "prior_"), (f"best-of-{self.best_of}", f"best_of_{self.best_of}_")]
        if "prompted_bleu4" in self.final:
            cols.append(("prompted", "prompted_"))
        if self.sft_steps:
            cols.append(("supervised", "sft_"))
        lines = [f"\ntext infilling on {len(self.domain.eval_data()[0])} held-out stories ({self.k} samples each)",
                 f"  {'metric':<14}" + "".join(f"{c:>14}" for c, _ in cols)]
        for key in keys:
            lines.append(f"  {key:<14}" + "".join(f"{self.final.get(p + key, float('nan')):>14.4f}" for _, p in cols))
        return "\n".join(lines)
