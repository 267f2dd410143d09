"""RTBLightningModule: fine-tunes a posterior diffusion model against a frozen prior and a reward.

One training step: draw a batch of trajectories (on-policy with tempered exploration, prior
rollouts, replay-buffer terminals noised backward), score them under prior and posterior in
batched no-grad passes, then accumulate the exact gradient of the objective chunk by chunk over
time (memory independent of the number of steps). Manual optimisation; DDP gradients are
averaged once per step by one all-reduce.
"""

import lightning as L
import torch
from torch.nn.parallel import DistributedDataParallel

from . import rng_state, training_state
from .annealing import Schedule
from .distributed import gather_objects
from .gradient import all_reduce_gradients, chunked_backward
from .log_z import LogZ
from .nonfinite_steps import NonFiniteSteps
from .networks.langevin import langevin_scale_parameters
from .objectives import LEARNS_LOG_Z, OBJECTIVES, target_nll, vargrad_log_z
from .replay_buffer import ReplayBuffer
from .reward_guard import call_reward, guard_log_r
from .scorer import TrajectoryScorer
from .target_paths import TargetPaths
from .target_resampling import importance_resample


def _clip_and_norm(params, clip):
    """The total gradient norm of params before clipping; clips it to `clip` in place when clip > 0."""
    if not params:
        return torch.zeros(())
    if clip:
        return torch.nn.utils.clip_grad_norm_(params, clip)
    return torch.linalg.vector_norm(torch.stack([p.grad.norm() for p in params]))


class RTBLightningModule(L.LightningModule):
    def __init__(self, process, prior, posterior, reward, *, method="rtb", reference="prior",
                 batch_size=500, lr=1e-3, log_z_lr=0.1, fractions=(1.0, 0.0, 0.0),
                 exploration=Schedule(0.0, 0.0), beta=Schedule(1.0, 1.0), loss_clip=0.0, huber=0.0, kl_weight=1.0,
                 chunk_size=0, buffer: ReplayBuffer = None, log_r_min=-1e4, nonfinite="error",
                 grad_clip=0.0, log_z_init_samples=1000, seed=0, reward_name="reward", lr_decay=None,
                 max_consecutive_nonfinite=20, reward_retries=0, failure_dir=None, share_buffer=False,
                 log_z=None, local_search=None, buffer_seed_prior=0, scale_lr=None, target_proposals=0,
                 target_nll=0.0):
        super().__init__()
        self.automatic_optimization = False
        self.process, self.prior, self.posterior = process, prior, posterior
        self.log_z = LogZ() if log_z is None else log_z            # scalar, or a network of the condition
        self.prior.requires_grad_(False).eval()
        self.reward = reward
        self.method, self.reference, self.objective = method, reference, OBJECTIVES[method]
        self.batch_size, self.lr, self.log_z_lr = batch_size, lr, log_z_lr
        total = sum(fractions)
        fractions = (*fractions, 0.0)[:4]
        self.fractions = [f / total for f in fractions]          # on-policy, buffer, prior, target paths
        self.exploration, self.beta = exploration, beta
        self.loss_clip, self.kl_weight, self.chunk_size, self.grad_clip = loss_clip, kl_weight, chunk_size, grad_clip
        self.huber = huber
        self.buffer = buffer if buffer is not None else ReplayBuffer(10_000)
        self.log_r_min, self.nonfinite_policy, self.reward_name = log_r_min, nonfinite, reward_name
        self.log_z_init_samples, self.seed = log_z_init_samples, seed
        self.lr_decay = lr_decay                  # callable step -> lr factor, or None (constant)
        self.scale_lr = scale_lr                  # lr of the Langevin scales s(t) (None: the posterior's lr)
        self.local_search = local_search          # local_search.LocalSearch or None: refines buffer samples
        self.buffer_seed_prior = buffer_seed_prior  # prior samples resampled by r^beta into the buffer at start
        self.target_proposals = target_proposals    # prior rollouts behind the target-path bank (sampling.target)
        self.target_paths = None                    # TargetPaths, built at fit start when sampling.target > 0
        self.target_nll = target_nll                # weight of the bank paths' NLL term: a number or step -> weight
        self.register_buffer("log_z_ready", torch.tensor(False))
        self.scorer = TrajectoryScorer(process, prior, posterior, reference, chunk_size)
        self.nonfinite_steps = NonFiniteSteps(max_consecutive_nonfinite)
        self.reward_retries, self.failure_dir, self.share_buffer = reward_retries, failure_dir, share_buffer
        self._pending_rng = None

    @property
    def skipped_steps(self):
        return self.nonfinite_steps.total

    # ---- scoring ----
    def reward_log_r(self, x, cond=None, step=None):
        step = self.global_step if step is None else step
        path = None if self.failure_dir is None else f"{self.failure_dir}/reward_failure_step{step}_rank{self.global_rank}.pt"
        log_r = call_reward(self.reward, x, cond, name=self.reward_name, step=step, retries=self.reward_retries,
                            failure_path=path)
        return guard_log_r(log_r, len(x), self.reward_name, step, self.log_r_min, self.nonfinite_policy)

    @torch.no_grad()
    def log_ref(self, states, cond=None):
        return self.scorer.log_ref(states, cond)

    @torch.no_grad()
    def log_post(self, states, cond=None):
        return self.scorer.log_post(states, cond)

    @torch.no_grad()
    def sample(self, n, cond=None, extra_std=0.0):
        """Posterior trajectories and their untempered per-trajectory log-prob sums."""
        states, log_pf, _ = self.scorer.sample_posterior(n, cond, extra_std)
        return states, log_pf

    @torch.no_grad()
    def sample_scored(self, n, cond=None):
        """Posterior trajectories with their posterior and reference log-prob sums (prior outputs reused)."""
        states, log_pf, base = self.scorer.sample_posterior(n, cond)
        return states, log_pf, self.scorer.log_ref(states, cond, base)

    # ---- the batch of trajectories ----
    def _split(self, n):
        """(on-policy, buffer, prior, target-path) counts; an empty buffer's (or bank's) share goes on-policy."""
        _, f_buf, f_pr, f_tp = self.fractions
        n_buf = int(round(f_buf * n)) if len(self.buffer) else 0
        n_pr = min(n - n_buf, int(round(f_pr * n)))
        n_tp = min(n - n_buf - n_pr, int(round(f_tp * n))) if self.target_paths is not None else 0
        return n - n_buf - n_pr - n_tp, n_buf, n_pr, n_tp

    @torch.no_grad()
    def draw(self, cond, n, extra_std, step=None):
        """A scored batch: dict of states, log_pf and log_ref sums, raw log r, cond, prior outputs
        (or None), a mask of the terminals that are new (not replayed) and one of the target-path rows."""
        sc, (n_on, n_buf, n_pr, n_tp) = self.scorer, self._split(n)
        sl = lambda a, b: None if cond is None else cond[a:b]
        parts = []                                     # (states, log_pf, log_ref, prior outputs, cond)
        if n_on:
            s, lp, base = sc.sample_posterior(n_on, sl(0, n_on), extra_std)
            parts.append((s, lp, sc.log_ref(s, sl(0, n_on), base), base, sl(0, n_on)))
        if n_pr:
            c = sl(n_on, n_on + n_pr)
            s, lref, base = sc.sample_prior(n_pr, c)
            parts.append((s, sc.log_post(s, c, base), lref, base, c))
        log_r, keep, self._reward_counts = [], [], (0, 0)
        if parts:
            g = self.reward_log_r(torch.cat([p[0][:, -1] for p in parts]), sl(0, n_on + n_pr), step)
            log_r.append(g.log_r), keep.append(g.keep)
            self._reward_counts = (g.num_neg_inf, g.num_nonfinite)
        # replayed trajectories: buffer terminals noised backward, and whole paths of the target
        replayed = []
        if n_buf:
            x, lr, bc = self.buffer.sample(n_buf)
            replayed.append((self.process.sample_backward(x), lr, bc))
        if n_tp:
            replayed.append(self.target_paths.sample(n_tp))
        for s, lr, bc in replayed:
            lref, base = sc.prior_outputs(s, bc) if sc.shares_prior else (sc.log_ref(s, bc), None)
            parts.append((s, sc.log_post(s, bc, base), lref, base, bc))
            log_r.append(lr), keep.append(torch.ones(len(s), dtype=torch.bool, device=lr.device))
        cat = lambda i: None if parts[0][i] is None else torch.cat([p[i] for p in parts])
        out = dict(states=cat(0), log_pf=cat(1), log_ref=cat(2), base=cat(3), cond=cat(4), log_r=torch.cat(log_r))
        rows = torch.arange(len(out["states"]), device=self.device)
        out["new"] = rows < n_on + n_pr
        out["target"] = rows >= len(rows) - n_tp                 # the bank's paths come last
        keep = torch.cat(keep)
        return out if keep.all() else {k: None if v is None else v[keep] for k, v in out.items()}

    # ---- Lightning hooks ----
    def configure_optimizers(self):
        trainable = [p for p in self.posterior.parameters() if p.requires_grad]
        groups = [{"params": trainable, "lr": self.lr}, {"params": self.log_z.parameters(), "lr": self.log_z_lr}]
        scales = {id(p) for p in langevin_scale_parameters(self.posterior)}
        # a third group only when asked and there are scales (none with the term off): older checkpoints keep two
        if self.scale_lr is not None and scales:
            groups[0]["params"] = [p for p in trainable if id(p) not in scales]
            groups.append({"params": [p for p in trainable if id(p) in scales], "lr": self.scale_lr})
        opt = torch.optim.Adam(groups)
        if self.lr_decay is None:
            return opt
        decays = [self.lr_decay, lambda step: 1.0, self.lr_decay][:len(groups)]
        return [opt], [torch.optim.lr_scheduler.LambdaLR(opt, decays)]

    def on_fit_start(self):
        # Distinct samples per rank; parameters were already made identical by DDP's broadcast.
        torch.manual_seed(self.seed * 1000 + 17 + self.global_rank)
        if isinstance(self.trainer.strategy.model, DistributedDataParallel):
            # Gradients are averaged by one explicit all-reduce after all chunks (see training_step);
            # DDP's own hooks would fire once per chunked backward, so they are switched off.
            self.trainer.strategy.model.require_backward_grad_sync = False
        if not bool(self.log_z_ready):
            self._init_log_z()
        self.buffer.to(self.device)
        if self.fractions[1] > 0:
            self._seed_buffer()
        if self.fractions[3] > 0 and self.target_paths is None:
            self.target_paths = self.build_target_paths(self.target_proposals)

    @torch.no_grad()
    def _init_log_z(self):
        """log Z <- log E[r^beta] estimated with posterior samples (= the prior at initialisation)."""
        b, n, parts, conds = self.beta(0), self.log_z_init_samples, [], []
        while n > 0:
            m = min(n, self.batch_size)
            cond = self.trainer.datamodule.sample_conditions(m) if self.trainer.datamodule else None
            cond = None if cond is None else cond.to(self.device)
            states, lp, lref = self.sample_scored(m, cond)
            g = self.reward_log_r(states[:, -1], cond, step=0)
            parts.append((b * g.log_r + lref - lp)[g.keep])
            if cond is not None:
                conds.append(cond.to(self.device)[g.keep])
            n -= m
        w = torch.cat(parts)
        c = torch.cat(conds) if conds else None
        if self.trainer.world_size > 1:
            w = self.all_gather(w).reshape(-1)
            c = None if c is None else self.all_gather(c).flatten(0, 1)
        self.log_z.initialise_from(w, c)
        self.log_z_ready.fill_(True)

    @torch.no_grad()
    def _seed_buffer(self):
        """Known-good terminals enter the replay buffer once, before training (not on resume), and are
        replayed through backward trajectories (off-policy): a domain's own (e.g. true middles of
        training stories), and/or buffer.seed_prior prior samples resampled by r^beta."""
        if len(self.buffer):
            return
        dm = self.trainer.datamodule if self._trainer is not None else None
        seed = getattr(dm, "replay_seed", None)
        if seed is not None:
            x, cond = seed()
            x, cond = x.to(self.device), None if cond is None else cond.to(self.device)
            for a in range(0, len(x), self.batch_size):
                c = None if cond is None else cond[a:a + self.batch_size]
                g = self.reward_log_r(x[a:a + self.batch_size], c, step=0)
                self.buffer.add(x[a:a + self.batch_size][g.keep], g.log_r[g.keep], None if c is None else c[g.keep],
                                pin=True)
        if self.buffer_seed_prior:
            self._seed_buffer_from_prior(self.buffer_seed_prior, dm)

    @torch.no_grad()
    def _prior_rollouts(self, k, dm=None, paths=False):
        """k prior rollouts with their (kept) raw log r: (terminals, or whole paths with paths=True;
        log r; cond or None)."""
        xs, log_r, conds, left = [], [], [], k
        while left > 0:
            m = min(left, max(self.batch_size, 256))
            cond = dm.sample_conditions(m) if dm is not None and hasattr(dm, "sample_conditions") else None
            cond = None if cond is None else cond.to(self.device)
            s = self.scorer.sample_prior(m, cond)[0]
            g = self.reward_log_r(s[:, -1], cond, step=0)
            xs.append((s if paths else s[:, -1])[g.keep]), log_r.append(g.log_r[g.keep])
            conds.append(None if cond is None else cond[g.keep])
            left -= m
        return torch.cat(xs), torch.cat(log_r), None if conds[0] is None else torch.cat(conds)

    @torch.no_grad()
    def _seed_buffer_from_prior(self, k, dm=None):
        """k prior samples, resampled (with replacement) by weights r^beta: draws of the target
        p·r^beta itself up to the finite k (target_resampling.py). Since the optimal posterior's
        trajectories given their terminal are the prior's, replaying these through the backward
        process trains on near-target trajectories from step 0: coverage of the target's modes
        that on-policy sampling finds only slowly (e.g. class proportions of a set reward)."""
        x, log_r, cond = self._prior_rollouts(k, dm)
        # per-sample weights; conditional runs resample across conditions, which keeps each
        # condition's share proportional to its Z(c) — a replay mix, not a training target
        idx, self.seed_ess, _ = importance_resample(self.beta(0) * log_r, len(x))
        self.buffer.add(x[idx], log_r[idx], None if cond is None else cond[idx], pin=True)
        if self._trainer is not None and self.global_rank == 0:
            print(f"[rtb] replay buffer seeded (each rank): {len(x)} prior samples resampled by r^beta, "
                  f"ESS {self.seed_ess:.0f}, {idx.unique().numel()} distinct")

    @torch.no_grad()
    def build_target_paths(self, k):
        """The bank of sampling.target: k whole prior rollouts weighted by r^beta (target_paths.py).
        Drawn on its own seeded stream, so a resumed run rebuilds the same bank (it is not checkpointed)
        and the run's own random stream does not depend on it."""
        dm = self.trainer.datamodule if self._trainer is not None else None
        rank = self.global_rank if self._trainer is not None else 0
        devices = [self.device] if self.device.type == "cuda" else []
        with torch.random.fork_rng(devices=devices):
            torch.manual_seed(self.seed * 1000 + 29 + rank)
            states, log_r, cond = self._prior_rollouts(k, dm, paths=True)
        beta = self.beta.end if isinstance(self.beta, Schedule) else self.beta(0)   # the final target's paths
        bank = TargetPaths(states, beta * log_r, log_r, cond)
        if self._trainer is not None and self.global_rank == 0:
            print(f"[rtb] target paths (each rank): {k} prior rollouts weighted by r^beta, ESS {bank.ess:.0f}, "
                  f"{len(bank)} kept")
        return bank

    def accumulate_gradients(self, cond, step):
        """Draw a batch, score it, and accumulate the objective's gradient into .grad (no optimizer step).

        Usable without a Trainer (benchmarks, tests). Returns the detached loss and tensors for logging.
        """
        eps, beta = self.exploration(step), self.beta(step)
        out = self.draw(cond, self.batch_size, eps, step)
        states, cond, base = out["states"], out["cond"], out["base"]
        log_z = self.log_z(cond, len(states))
        kw = dict(beta=beta, clip=self.loss_clip, huber=self.huber, kl_weight=self.kl_weight)
        if self.method == "vargrad" and cond is not None:
            # VarGrad per condition: log Z is estimated within each group of identical conditions.
            kw["groups"] = torch.unique(cond.reshape(len(cond), -1), dim=0, return_inverse=True)[1]
        objective = lambda s: self.objective(s, out["log_ref"], out["log_r"], log_z, **kw)
        w = self.target_nll(step) if callable(self.target_nll) else self.target_nll
        if w and out["target"].any():
            rtb_part, rows = objective, out["target"]
            objective = lambda s: rtb_part(s) + target_nll(s, rows, w)
        recompute = lambda a, b: self.scorer.log_post_chunk(states, cond, base, a, b)
        loss = chunked_backward(objective, out["log_pf"], recompute, self.process.num_steps, self.chunk_size)
        return loss, {**out, "log_z": log_z.detach(), "eps": eps, "beta": beta, "target_nll": w}

    def _conditions(self, batch):
        # Drawn here, not in the data loader: the loader prefetches, so its RNG use would not line up
        # with the checkpointed RNG state and a resumed run would diverge.
        dm = self.trainer.datamodule if self._trainer is not None else None
        cond = dm.sample_conditions(self.batch_size) if dm is not None and hasattr(dm, "sample_conditions") \
            else (batch if batch is not None and batch.numel() else None)
        return None if cond is None else cond.to(self.device)

    def on_train_batch_start(self, batch, batch_idx):
        self.restore_pending_rng()

    def restore_pending_rng(self):
        if self._pending_rng is not None:        # resumed: continue the interrupted run's random stream
            rng_state.restore(self._pending_rng)
            self._pending_rng = None

    def training_step(self, batch, batch_idx):
        opt = self.optimizers()
        opt.zero_grad()
        loss, out = self.accumulate_gradients(self._conditions(batch), self.global_step)
        params = [p for g in opt.optimizer.param_groups for p in g["params"]]
        all_reduce_gradients(params)
        loss_finite = bool(torch.isfinite(loss))
        grads = [p.grad for p in params if p.grad is not None]
        # One device sync for all gradients (not one per parameter tensor).
        finite = loss_finite and (not grads or bool(torch.stack([torch.isfinite(g).all() for g in grads]).all()))
        grad_norm = torch.zeros(())
        if finite:
            # Logged before clipping: a spike here precedes a blow-up (docs/energies.md, Manywell).
            grad_norm = _clip_and_norm([p for p in self.posterior.parameters() if p.grad is not None], self.grad_clip)
            # log Z on its own norm: one escaped trajectory's spike would otherwise both move it by ~30 lr and
            # inflate its Adam second moment, freezing it for thousands of steps (docs/energies.md, Manywell).
            if self.grad_clip:
                _clip_and_norm([p for p in self.log_z.parameters() if p.grad is not None], self.grad_clip)
            opt.step()
            if self.lr_decay is not None:
                self.lr_schedulers().step()
        self.nonfinite_steps.record(finite, self.global_step, loss_finite)
        new, log_r = out["new"], out["log_r"]
        x, c = out["states"][:, -1][new], None if out["cond"] is None else out["cond"][new]
        log_r_new, self.last_fresh = log_r[new], x[:4]      # a few of this rank's own samples (DDP report)
        if self.share_buffer and self.trainer.world_size > 1:   # every rank's buffer gets every rank's samples
            parts = gather_objects((x.cpu(), log_r_new.cpu(), None if c is None else c.cpu()))
            x, log_r_new = (torch.cat([p[i] for p in parts]).to(self.device) for i in (0, 1))
            c = None if c is None else torch.cat([p[2] for p in parts]).to(self.device)
        self.buffer.add(x, log_r_new, c)
        if self.local_search is not None and self.local_search.maybe_run(self.buffer, self.global_step):
            self.log_dict({"train/ls_accept": self.local_search.last_accept,
                           "train/ls_step_size": self.local_search.mala.step_size})
        self._log_step(loss, {**out, "grad_norm": grad_norm})
        return loss

    @torch.no_grad()
    def _log_step(self, loss, out):
        log_pf, log_ref, log_r, new, beta = out["log_pf"], out["log_ref"], out["log_r"], out["new"], out["beta"]
        lz = out["log_z"] if self.method in LEARNS_LOG_Z else vargrad_log_z(log_pf, log_ref, log_r, beta)
        delta = lz + log_pf - log_ref - beta * log_r
        fresh = new if new.any() else torch.ones_like(new)
        vals = {"train/loss": loss, "train/log_z": lz.mean(), "train/abs_delta": delta.abs().mean(),
                "train/mean_log_r": log_r[fresh].mean(), "train/kl_post_prior": (log_pf - log_ref)[fresh].mean(),
                "train/exploration_std": out["eps"], "train/beta": beta, "train/target_nll_weight": out["target_nll"],
                "train/reward_neg_inf": self._reward_counts[0], "train/reward_nonfinite_dropped": self._reward_counts[1],
                "train/skipped_steps": self.skipped_steps, "train/grad_norm": out.get("grad_norm", 0.0)}
        v = torch.stack([torch.as_tensor(x, dtype=torch.float32, device=self.device) for x in vals.values()])
        if self._trainer is not None and self.trainer.world_size > 1:
            v = self.trainer.strategy.reduce(v, reduce_op="mean")     # one collective: means over ranks
        self.log_dict(dict(zip(vals, v)))
        self.log("log_z", v[1], prog_bar=True)
        self.log("loss", v[0], prog_bar=True)

    # ---- checkpoints (training_state.py): no prior, per-rank buffers and RNG streams ----
    def on_save_checkpoint(self, checkpoint):
        training_state.pack(self, checkpoint)

    def on_load_checkpoint(self, checkpoint):
        self._pending_rng = training_state.unpack(self, checkpoint)
