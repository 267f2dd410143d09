"""Text infilling: given a story's beginning and end, sample its middle.

Prior: a masked-diffusion denoiser of the middle that reads the beginning and, when revealed, the
end (trained, cached; the end shown to a domain.prior_end_visible fraction of its training batches).
Its default, end hidden, is p_prior(middle | beginning), the prior of RTB; revealed, it is the
"prompted by masking" baseline p(middle | beginning, end), no fine-tuning. Reward:
log r = log p_AR(end | beginning, middle) under a small autoregressive LM (trained, cached). The
posterior p_prior(middle | beginning) * r^beta is learned by RTB, amortised over the corpus: the
condition of a trajectory is its story's [beginning tokens, end tokens] (fixed lengths, padded).
Stories come from the embedded grammar (text/stories.py) or a user's CSV / text file (data.path).
"""
import math

import torch
from torch import nn
from torch.utils.data import DataLoader

from ..errors import UserError
from ..networks.reveal_context import RevealContext
from ..networks.transformer import TokenDenoiser
from ..text import WordTokenizer, generate_stories, load_corpus, split_words
from .base import Domain, _Stream

MIN_TRAIN_STORIES = 20


class TextDomain(Domain):
    conditional = True        # the prompt (beginning and end of a story)
    name = "text"
    uses_data = True
    prior_key_ignores = ("posterior_start",)         # posterior settings do not shape the cached prior

    def __init__(self, batch_size=64, stage="posterior", data=None, num_stories=4000, corpus_seed=0,
                 num_eval=200, max_beginning=16, max_middle=24, max_end=16, heads=4, samples_per_context=1,
                 reward_model=None, eval=None, prior_end_visible=0.5,
                 posterior_start="prompted"):
        super().__init__(batch_size, stage)
        if not 0.0 <= prior_end_visible < 1.0:
            raise UserError(f"domain.prior_end_visible={prior_end_visible} must be in [0, 1): the share of prior "
                            "training batches that show the end (the rest train p(middle | beginning))",
                            "use e.g. domain.prior_end_visible=0.5 (0: no prompted-by-masking baseline)")
        if posterior_start not in ("prior", "prompted") or (posterior_start == "prompted" and not prior_end_visible):
            raise UserError(f"domain.posterior_start={posterior_start!r} must be 'prior' or 'prompted' (the latter "
                            f"needs domain.prior_end_visible > 0, got {prior_end_visible})",
                            "use domain.posterior_start=prior, or prompted with e.g. domain.prior_end_visible=0.5")
        self.prior_end_visible, self.posterior_start = prior_end_visible, posterior_start
        data = data or {}
        self.samples_per_context = samples_per_context
        self.heads = heads
        self.reward_model_cfg = {**dict(hidden=64, layers=2, heads=4, steps=500, batch_size=128, lr=2e-3),
                                 **(reward_model or {})}
        self.eval_cfg = {**dict(num_stories=num_eval, samples_per_context=4, best_of=8, examples=8, sft_steps=0),
                         **(eval or {})}
        source = data.get("path")
        stories = load_corpus(source, data.get("column")) if source else generate_stories(num_stories, corpus_seed)
        where = source or "the embedded corpus"
        if len(stories) < num_eval + MIN_TRAIN_STORIES:
            raise UserError(f"{where} has {len(stories)} stories; need at least domain.num_eval ({num_eval}) + "
                            f"{MIN_TRAIN_STORIES} for training", "use a larger corpus or lower domain.num_eval")
        self.tokenizer = WordTokenizer.build([s for story in stories for s in story])
        caps = (max_beginning, max_middle, max_end)
        lengths = [[len(split_words(s)) for s in story] for story in stories]
        keep = [i for i, ls in enumerate(lengths) if all(0 < n <= c for n, c in zip(ls, caps))]
        self.num_dropped = len(stories) - len(keep)
        if len(keep) < num_eval + MIN_TRAIN_STORIES:
            raise UserError(f"only {len(keep)} of {len(stories)} stories in {where} fit the token limits "
                            f"(beginning/middle/end <= {caps})",
                            "raise domain.max_beginning / max_middle / max_end")
        if self.num_dropped:
            print(f"[rtb] text: {self.num_dropped} stories longer than the token limits {caps} were left out")
        stories = [stories[i] for i in keep]
        self.lengths = tuple(max(lengths[i][j] for i in keep) for j in range(3))
        lb, lm, le = self.lengths
        enc = lambda j, n: torch.tensor([self.tokenizer.encode(s[j], n) for s in stories], dtype=torch.long)
        self.beginning, self.middle, self.end = enc(0, lb), enc(1, lm), enc(2, le)
        self.cond = torch.cat([self.beginning, self.end], 1)
        perm = torch.randperm(len(stories), generator=torch.Generator().manual_seed(corpus_seed))
        self.eval_idx, self.train_idx = perm[:num_eval], perm[num_eval:]
        self.event_shape = (lm,)
        self.vocab_size = len(self.tokenizer)
        self.story_len = lb + lm + le
        self.reward_net = None

    # ---- decoding ----
    def decode(self, ids):
        return self.tokenizer.decode(ids)

    def words(self, ids):
        return self.decode(ids).split()

    def condition(self, beginning: str, end: str):
        """The condition tensor (1, Lb + Le) for a new beginning and end. Words outside the corpus's
        vocabulary, or text longer than the trained segment lengths, are errors (no silent <unk>)."""
        lb, _, le = self.lengths
        return torch.tensor([self.tokenizer.encode(beginning, lb) + self.tokenizer.encode(end, le)], dtype=torch.long)

    # ---- data ----
    def _pick(self, n, pool=None):
        pool = self.train_idx if pool is None else pool
        return pool[torch.randint(len(pool), (n,))]

    def prior_data(self, n):
        idx = self._pick(n)
        return self.middle[idx], self.cond[idx]

    def sample_conditions(self, n):
        k = self.samples_per_context
        idx = self._pick(math.ceil(n / k)).repeat_interleave(k)[:n]
        return self.cond[idx]

    def replay_seed(self):
        """True middles of the training stories, with their conditions: off-policy trajectories."""
        return self.middle[self.train_idx], self.cond[self.train_idx]

    def eval_data(self):
        """Held-out (conditions, true middles)."""
        idx = self.eval_idx[:self.eval_cfg["num_stories"]]
        return self.cond[idx], self.middle[idx]

    def stories(self, idx=None):
        idx = self.train_idx if idx is None else idx
        return torch.cat([self.beginning[idx], self.middle[idx], self.end[idx]], 1)

    def story_loader(self, batch_size):
        return DataLoader(_Stream(lambda: self.stories(self._pick(batch_size))), batch_size=None, num_workers=0)

    # ---- reward ----
    def log_reward(self, x, cond=None):
        if self.reward_net is None:
            raise RuntimeError("the text reward model is not loaded (TextDomain.prepare)")
        lb, lm, _ = self.lengths
        net = self.reward_net.to(x.device)
        tokens = torch.cat([cond[:, :lb], x, cond[:, lb:]], 1)
        with torch.no_grad():
            return net(tokens)[:, lb + lm:].sum(1)

    def prepare(self, cfg, run_dir, trainer_factory):
        """Load the cached reward model, or train and cache it first."""
        from ..text.reward_model import load_reward_model, reward_model_path, train_reward_model

        path = reward_model_path(cfg)
        if path.is_file():
            net = load_reward_model(self, path)
        else:
            print(f"[rtb] no cached reward model at {path}: training it first ({self.reward_model_cfg['steps']} steps)")
            torch.manual_seed(cfg.seed)
            net = train_reward_model(cfg, self, run_dir, trainer_factory)
        self.reward_net = net.cpu().eval().requires_grad_(False)
        return self.reward_net

    # ---- networks ----
    def build_network(self, net_cfg, zero_init=False, role="prior"):
        """Every denoiser reads [beginning, end]; the prior's end is hidden (mask tokens) unless revealed."""
        lb, lm, le = self.lengths
        hidden = (lb, lb + le) if role == "prior" else None
        return TokenDenoiser(self.vocab_size, lm, lb + le, net_cfg.hidden, net_cfg.layers, self.heads,
                             zero_init=zero_init, hidden_context=hidden)

    def prior_trainee(self, net):
        """Condition dropout: the end shown to a prior_end_visible share of the sequences, hidden otherwise."""
        return RevealContext(net, self.prior_end_visible)

    def prompted_prior(self, prior):
        """The prior prompted with beginning and end by masking (no fine-tuning); None if never trained so."""
        return RevealContext(prior, 1.0) if self.prior_end_visible > 0 else None

    def posterior_base(self, prior):
        """posterior_start=prompted: the residual posterior starts as the prompted prior (it reads the
        end from step 0); RTB's reference and target stay the end-hidden prior."""
        return self.prompted_prior(prior) if self.posterior_start == "prompted" else prior

    def log_z_network(self, hidden=64):
        """log Z(beginning, end): token embeddings, flattened, through a small MLP (zero-initialised output)."""
        width = 16
        out = nn.Linear(hidden, 1)
        nn.init.zeros_(out.weight)
        nn.init.zeros_(out.bias)
        return nn.Sequential(nn.Embedding(self.vocab_size, width), nn.Flatten(1),
                             nn.Linear(width * self.cond.shape[1], hidden), nn.SiLU(), out)

    def evaluation_callback(self, run_dir, every_n_steps, num_samples, start_time):
        from ..callbacks.text_evaluation import TextEvaluationCallback

        return TextEvaluationCallback(self, run_dir, every_n_steps, start_time=start_time, **{
            k: v for k, v in self.eval_cfg.items() if k in ("samples_per_context", "best_of", "examples", "sft_steps")})

    # ---- what checkpoints must agree on ----
    def state_dict(self):
        return {"tokenizer": self.tokenizer.state_dict(), "lengths": list(self.lengths)}

    def load_state_dict(self, state, where="the checkpoint"):
        self.tokenizer.check_matches(None if state is None else state.get("tokenizer"), where)
        if list(state.get("lengths", [])) != list(self.lengths):
            raise UserError(f"{where} was trained with segment lengths {state.get('lengths')}, this corpus has "
                            f"{list(self.lengths)}", "use the corpus and token limits it was trained with")

    def train_dataloader(self):
        if self.stage == "reward_model":
            return self.story_loader(self.reward_model_cfg["batch_size"])
        return super().train_dataloader()
