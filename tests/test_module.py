"""RTBLightningModule built through the builders: frozen prior, posterior = prior at start,
checkpoints without the prior, gradient accumulation without a Trainer, bad rewards."""
import math

import pytest
import torch

from rtb_lightning.builders import (build_domain, build_module, build_network, build_posterior, build_prior,
                                    build_process)
from rtb_lightning.config import load_config
from rtb_lightning.errors import ConfigError, RewardError
from rtb_lightning.prior_cache import prior_path, save_prior

SMALL = ["posterior.batch_size=16", "process.num_steps=8", "process.num_train_steps=100",
         "posterior.network.hidden=16", "posterior.network.layers=2", "posterior.log_z_init_samples=32",
         "prior.network.hidden=16", "prior.network.layers=2"]
SETUPS = {
    "analytic-residual": ["prior.kind=analytic", "posterior.init=residual"],
    "trained-copy": ["prior.kind=trained", "posterior.init=copy"],
    # the reward's gradient at the prior's denoised estimate, from the prior output the scorer records
    "analytic-estimate": ["prior.kind=analytic", "posterior.init=residual", "sampler.langevin=true",
                          "sampler.langevin_at=estimate"],
}


def _config(tmp_path, *extra):
    return load_config([*SMALL, f"cache_dir={tmp_path / 'cache'}", f"run_dir={tmp_path / 'run'}", *extra])


def _build(cfg, tmp_path):
    domain = build_domain(cfg, "posterior")
    process = build_process(cfg, domain)
    if cfg.prior.kind == "trained" and not prior_path(cfg).is_file():
        # a cached "trained" prior (random weights) so that nothing is trained here
        save_prior(build_network(cfg.prior.network, domain), cfg, prior_path(cfg))
    prior = build_prior(cfg, domain, process, tmp_path / "run")
    posterior = build_posterior(cfg, prior, domain, process)
    return build_module(cfg, domain, process, prior, posterior)


@pytest.fixture(params=list(SETUPS))
def setup(request, tmp_path):
    return SETUPS[request.param]


@pytest.fixture
def module(setup, tmp_path):
    return _build(_config(tmp_path, *setup), tmp_path)


def _optimizer(module):
    out = module.configure_optimizers()
    while isinstance(out, (list, tuple)):
        out = out[0]
    return out["optimizer"] if isinstance(out, dict) else out


def test_prior_is_frozen_and_not_in_the_optimizer(setup, tmp_path):
    cfg = _config(tmp_path, *setup)
    module = _build(cfg, tmp_path)
    assert all(not p.requires_grad for p in module.prior.parameters())
    opt = _optimizer(module)
    in_opt = {id(p) for g in opt.param_groups for p in g["params"]}
    assert not in_opt & {id(p) for p in module.prior.parameters()}
    post = [p for p in module.posterior.parameters()]
    assert post and all(p.requires_grad for p in post) and {id(p) for p in post} <= in_opt
    assert id(module.log_z.value) in in_opt
    lz_group = [g for g in opt.param_groups if any(p is module.log_z.value for p in g["params"])][0]
    assert lz_group["lr"] == cfg.posterior.log_z_lr and len(lz_group["params"]) == 1


def test_trained_prior_has_parameters_to_freeze(tmp_path):
    m = _build(_config(tmp_path, *SETUPS["trained-copy"]), tmp_path)
    assert sum(p.numel() for p in m.prior.parameters()) > 0         # the test above is not vacuous
    assert {id(p) for p in m.prior.parameters()}.isdisjoint({id(p) for p in m.posterior.parameters()})


def test_posterior_starts_exactly_equal_to_prior(module):
    proc = module.process
    x = torch.randn(64, 2)
    for t in proc.t_in:
        tt = t.expand(64)
        assert torch.equal(module.posterior(x, tt), module.prior(x, tt))
    states, _ = proc.sample(module.prior, 32)
    assert torch.equal(proc.log_prob(module.posterior, states), proc.log_prob(module.prior, states))


def test_checkpoint_has_no_prior_and_load_restores_it(module, setup, tmp_path):
    full = module.state_dict()
    assert any(k.startswith("prior.") for k in full)
    ckpt = {"state_dict": dict(full)}
    module.on_save_checkpoint(ckpt)
    keys = set(ckpt["state_dict"])
    assert not any(k.startswith("prior.") for k in keys)
    assert "log_z.value" in keys                                          # log Z is saved
    assert any(k.startswith("posterior.") for k in keys)
    assert "replay_buffer" in ckpt

    with torch.no_grad():
        module.log_z.value.fill_(1.25)
        next(module.posterior.parameters()).add_(0.5)
    ckpt = {"state_dict": module.state_dict()}
    module.on_save_checkpoint(ckpt)
    fresh = _build(_config(tmp_path, *setup), tmp_path)
    fresh.on_load_checkpoint(ckpt)
    fresh.load_state_dict(ckpt["state_dict"], strict=True)
    assert fresh.log_z.value.item() == 1.25
    for (k, a), b in zip(module.state_dict().items(), fresh.state_dict().values()):
        assert torch.equal(a, b), k


def test_residual_posterior_does_not_save_the_base_twice(tmp_path):
    m = _build(_config(tmp_path, *SETUPS["analytic-residual"]), tmp_path)
    assert not any(k.startswith("posterior._base") or k.startswith("posterior.base") for k in m.state_dict())


def test_accumulate_gradients_without_trainer(module):
    module.zero_grad(set_to_none=True)
    loss, out = module.accumulate_gradients(None, 0)
    assert torch.isfinite(loss)
    grads = [p.grad for p in module.posterior.parameters()]
    assert all(g is not None and torch.isfinite(g).all() for g in grads)
    assert any(g.abs().sum() > 0 for g in grads)
    assert module.log_z.value.grad is not None and torch.isfinite(module.log_z.value.grad)
    assert all(p.grad is None for p in module.prior.parameters())
    assert out["states"].shape == (16, module.process.num_steps + 1, 2)
    assert out["new"].all()                                               # empty buffer: all fresh


def test_chunk_size_does_not_change_the_module_gradient(float64, setup, tmp_path):
    module = _build(_config(tmp_path, *setup), tmp_path)            # float64 throughout
    assert module.process.std.dtype == torch.float64
    grads = []
    for chunk in (0, 3):
        module.chunk_size = chunk
        module.zero_grad(set_to_none=True)
        torch.manual_seed(5)
        module.accumulate_gradients(None, 0)
        grads.append([p.grad.clone() for p in module.posterior.parameters()] + [module.log_z.value.grad.clone()])
    for a, b in zip(*grads):
        torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-6)


@pytest.mark.parametrize("beta", [1.0, 2.0])
def test_rtb_loss_is_zero_when_posterior_is_prior_and_reward_constant(float64, setup, tmp_path, beta):
    # float64: in float32 the two passes' rounding (sampling vs batched scoring) leaves residuals of ~1e-5 that
    # the last steps' small stds amplify into gradients of norm up to ~2 (CPU-dependent), which is not "zero"
    module = _build(_config(tmp_path, *setup), tmp_path)
    c = -0.75
    module.reward = lambda x, cond=None: torch.full((len(x),), c)
    module.beta = lambda step: beta
    module.log_z.initialise(beta * c)
    module.zero_grad(set_to_none=True)
    loss, out = module.accumulate_gradients(None, 0)
    assert loss.item() < 1e-20
    torch.testing.assert_close(out["log_pf"], out["log_ref"], rtol=1e-12, atol=1e-10)
    assert all(p.grad.abs().max() < 1e-6 for p in module.posterior.parameters())


def test_draw_mixes_on_policy_buffer_and_prior(module):
    point = torch.tensor([[0.3, -0.2]])
    module.buffer.add(point, torch.tensor([1.5]))
    module.fractions = [0.5, 0.25, 0.25, 0.0]
    out = module.draw(None, 16, 0.0)
    states, log_pf, log_r, cond, new = (out[k] for k in ("states", "log_pf", "log_r", "cond", "new"))
    assert states.shape[0] == 16 and cond is None
    assert int(new.sum()) == 12                                  # on-policy + prior rollouts are new
    assert torch.equal(states[~new, -1], point.expand(4, 2))     # buffer terminals, noised backward
    assert torch.equal(log_r[~new], torch.full((4,), 1.5))       # stored log r, not recomputed
    want = module.process.log_prob(module.posterior, states).sum(1)
    torch.testing.assert_close(log_pf, want, rtol=1e-5, atol=1e-3)   # every part scored by the posterior
    # Reference scores reuse prior outputs recorded while sampling: they must equal a fresh prior pass.
    ref = module.process.log_prob(module.prior, states).sum(1)
    torch.testing.assert_close(out["log_ref"], ref, rtol=1e-5, atol=1e-3)


def test_nan_reward_stops_with_an_error_naming_the_reward(module):
    module.reward = lambda x, cond=None: torch.where(x[:, 0] > 0, torch.nan, 0.0)
    with pytest.raises(RewardError, match=r"toy2d\.log_reward.*NaN/\+inf.*step 0"):
        module.accumulate_gradients(None, 0)


def test_reward_error_names_the_step_passed_without_trainer(module):
    module.reward = lambda x, cond=None: torch.full((len(x),), torch.nan)
    with pytest.raises(RewardError, match="step 42"):
        module.accumulate_gradients(None, 42)


def test_nonfinite_drop_trains_on_the_rest(tmp_path):
    m = _build(_config(tmp_path, *SETUPS["analytic-residual"], "reward.nonfinite=drop"), tmp_path)
    m.reward = lambda x, cond=None: torch.where(x[:, 0] > 0, torch.nan, -x.pow(2).sum(1))
    m.zero_grad(set_to_none=True)
    loss, out = m.accumulate_gradients(None, 0)
    assert torch.isfinite(loss)
    n = len(out["states"])
    assert 0 < n < 16 and (out["states"][:, -1, 0] <= 0).all()
    assert m._reward_counts[1] == 16 - n


def test_neg_inf_reward_is_clamped_and_counted(tmp_path):
    m = _build(_config(tmp_path, *SETUPS["analytic-residual"], "reward.log_r_min=-30.0"), tmp_path)
    m.reward = lambda x, cond=None: torch.where(x[:, 0] > 0, -math.inf, 0.0)
    m.zero_grad(set_to_none=True)
    loss, out = m.accumulate_gradients(None, 0)
    assert torch.isfinite(loss) and len(out["states"]) == 16
    assert out["log_r"].min().item() == -30.0
    assert m._reward_counts[0] == int((out["states"][:, -1, 0] > 0).sum()) > 0


def test_wrong_reward_shape_is_an_error(module):
    module.reward = lambda x, cond=None: torch.zeros(len(x), 1)
    with pytest.raises(RewardError, match=r"expected \(16,\)"):
        module.accumulate_gradients(None, 0)


@pytest.mark.parametrize("method", ["vargrad", "rl_kl"])
def test_other_methods_accumulate_finite_gradients(tmp_path, method):
    extra = ["exploration.std=0", "sampling.buffer=0"] if method == "rl_kl" else []
    m = _build(_config(tmp_path, *SETUPS["analytic-residual"], f"method={method}", *extra), tmp_path)
    m.zero_grad(set_to_none=True)
    loss, _ = m.accumulate_gradients(None, 0)
    assert torch.isfinite(loss)
    assert all(torch.isfinite(p.grad).all() for p in m.posterior.parameters())


def test_tb_with_brownian_reference_builds_or_gives_config_error(tmp_path):
    cfg = _config(tmp_path, "method=tb", "process.kind=brownian", *SETUPS["analytic-residual"])
    try:
        _build(cfg, tmp_path)
    except ConfigError:
        pass


def test_cached_prior_outputs_give_the_posterior_scores_and_gradients(float64, setup, tmp_path):
    """The scorer's shortcut (prior outputs recorded once, correction added) is exact, values and grads.
    float64: in float32 the sampling pass and a fresh pass round differently, by up to 6e-4 on some CPUs."""
    module = _build(_config(tmp_path, *setup), tmp_path)
    torch.manual_seed(3)
    with torch.no_grad():
        for p in module.posterior.parameters():
            p.add_(0.1 * torch.randn_like(p))          # a non-trivial posterior
    sc = module.scorer
    states, log_pf, base = sc.sample_posterior(6, None, 0.3)
    torch.testing.assert_close(log_pf, module.process.log_prob(module.posterior, states).sum(1), rtol=1e-10, atol=1e-8)
    if base is None:
        return                                           # copy-initialised posterior: no shortcut to check
    torch.testing.assert_close(sc.log_ref(states, None, base), module.process.log_prob(module.prior, states).sum(1))
    params = [p for p in module.posterior.parameters() if p.requires_grad]
    T = module.process.num_steps
    fast = torch.autograd.grad(sc.log_post_chunk(states, None, base, 0, T).sum(), params)
    full = torch.autograd.grad(module.process.log_prob(module.posterior, states, None, 0, T).sum(), params)
    for a, b in zip(fast, full):
        torch.testing.assert_close(a, b, rtol=1e-9, atol=1e-10)


def test_buffer_seeded_from_the_prior_holds_samples_of_the_target(tmp_path):
    # reward r = exp(-(x0 - 1)^2), beta 2: the seeded buffer must be distributed as p(x) r(x)^2 / Z,
    # checked against the same expectation by weighting an independent set of prior samples.
    module = _build(_config(tmp_path, "prior.kind=analytic", "beta.start=2", "beta.end=2"), tmp_path)
    module.reward = lambda x, cond=None: -(x[:, 0] - 1) ** 2
    torch.manual_seed(0)
    module._seed_buffer_from_prior(20_000)
    assert len(module.buffer) == 20_000 and module.buffer.cond is None
    torch.testing.assert_close(module.buffer.log_r, module.reward(module.buffer.x))     # stored rewards are the terminals'
    x = module.scorer.sample_prior(50_000, None)[0][:, -1]
    w = torch.softmax(2 * module.reward(x), 0)
    want, prior_mean = (w[:, None] * x).sum(0), x.mean(0)
    got = module.buffer.x.mean(0)
    assert (got - want).abs().max() < 0.05 and (want - prior_mean).abs().max() > 0.3    # the reward moved it
    assert 0 < module.seed_ess < 20_000


def test_buffer_seeding_is_skipped_when_the_buffer_is_filled_already(tmp_path):
    module = _build(_config(tmp_path, "prior.kind=analytic", "buffer.seed_prior=64"), tmp_path)
    assert module.buffer_seed_prior == 64
    module.buffer.add(torch.zeros(3, 2), torch.zeros(3))      # e.g. restored from a checkpoint
    module._trainer = None
    module._seed_buffer()
    assert len(module.buffer) == 3
    module.buffer = type(module.buffer)(100)
    module._seed_buffer()
    assert len(module.buffer) == 64


def test_seed_share_pins_the_seeded_draws_apart_from_the_training_samples(tmp_path):
    module = _build(_config(tmp_path, "prior.kind=analytic", "buffer.seed_prior=64", "buffer.seed_share=0.5"), tmp_path)
    module._trainer = None
    module._seed_buffer()
    assert module.buffer.seed_share == 0.5 and len(module.buffer.seed[0]) == 64 and module.buffer.x is None
    module.buffer.add(torch.zeros(10, 2), torch.zeros(10))   # a training step's samples go to the other part
    assert len(module.buffer) == 74 and len(module.buffer.seed[0]) == 64


@pytest.mark.parametrize("args, match", [
    (["buffer.seed_prior=100", "sampling.buffer=0"], "sampling.buffer=0 never trains on it"),
    (["buffer.seed_prior=-1"], "negative"),
    (["buffer.seed_share=1.5"], "buffer.seed_share=1.5 must be null or a number in"),
    (["buffer.seed_share=half"], "buffer.seed_share='half'"),
    (["trainer.max_time=soon"], "trainer.max_time='soon'"),
    (["trainer.max_time=-5"], "positive number of seconds"),
])
def test_bad_buffer_seed_and_max_time_are_refused(tmp_path, args, match):
    from rtb_lightning.builders import check_method

    with pytest.raises(ConfigError, match=match):
        check_method(_config(tmp_path, *args))


def test_max_time_is_read_as_seconds_or_days_hours_minutes_seconds(tmp_path):
    import datetime

    from rtb_lightning.builders import max_time

    assert max_time(_config(tmp_path, "trainer.max_time=90")) == datetime.timedelta(seconds=90)
    assert max_time(_config(tmp_path, "trainer.max_time=1:02:03:04")) == datetime.timedelta(days=1, hours=2, minutes=3, seconds=4)
    assert max_time(_config(tmp_path)) is None


def test_target_paths_are_prior_rollouts_weighted_by_the_reward(tmp_path):
    # reward r = exp(-(x0 - 1)^2), beta 2: the bank's draws must be distributed as p(x) r(x)^2 / Z at
    # the terminal, checked against an independent set of weighted prior samples, and each kept path
    # must be a whole prior rollout (its stored log r is its terminal's, its states the prior's chain).
    module = _build(_config(tmp_path, "prior.kind=analytic", "beta.start=2", "beta.end=2"), tmp_path)
    module.reward = lambda x, cond=None: -(x[:, 0] - 1) ** 2
    module._trainer = None
    bank = module.build_target_paths(20_000)
    assert 0 < bank.ess < 20_000 and len(bank) <= 20_000
    assert bank.states.shape[1:] == (module.process.num_steps + 1, 2)
    torch.testing.assert_close(bank.log_r, module.reward(bank.states[:, -1]))
    states, log_r, cond = bank.sample(20_000)
    assert cond is None
    torch.manual_seed(1)
    x = module.scorer.sample_prior(50_000, None)[0][:, -1]
    w = torch.softmax(2 * module.reward(x), 0)
    want, prior_mean = (w[:, None] * x).sum(0), x.mean(0)
    assert (states[:, -1].mean(0) - want).abs().max() < 0.05 and (want - prior_mean).abs().max() > 0.3
    # intermediate states: the chain of the prior (its first state N(0, I), and finite prior log-probs)
    assert torch.isfinite(module.log_ref(states[:100])).all()
    assert abs(bank.states[:, 0].std().item() - 1) < 0.1


def test_target_paths_are_rebuilt_identically_on_their_own_stream(tmp_path):
    module = _build(_config(tmp_path, "prior.kind=analytic"), tmp_path)
    module.reward = lambda x, cond=None: -(x[:, 0] - 1) ** 2
    module._trainer = None
    torch.manual_seed(5)
    before = torch.random.get_rng_state()
    a = module.build_target_paths(300)
    assert torch.equal(torch.random.get_rng_state(), before)      # the run's own stream is untouched
    b = module.build_target_paths(300)                           # what a resumed run rebuilds
    assert torch.equal(a.states, b.states) and torch.equal(a.weights, b.weights)


def test_target_paths_keep_the_weight_and_draw_by_it():
    from rtb_lightning.target_paths import TargetPaths

    states = torch.arange(6.0).view(6, 1, 1).expand(6, 3, 1)
    log_w = torch.tensor([0.0, math.log(3.0), -100.0, -200.0, 0.0, -300.0])    # weights 1, 3, ~0, ~0, 1, ~0
    bank = TargetPaths(states, log_w, torch.zeros(6), cond=torch.arange(6))
    assert len(bank) == 3 and sorted(bank.cond.tolist()) == [0, 1, 4]          # negligible weight is dropped
    torch.testing.assert_close(bank.weights.sum(), torch.tensor(1.0))
    assert abs(bank.ess - 25 / 11) < 1e-3                                       # (1+3+1)^2 / (1+9+1)
    _, _, cond = bank.sample(50_000, torch.Generator().manual_seed(0))
    freq = torch.bincount(cond, minlength=6).double() / 50_000
    assert abs(freq[1] - 0.6) < 0.01 and abs(freq[0] - 0.2) < 0.01 and freq[2] == 0


def test_draw_with_target_paths_replays_whole_paths_scored_afresh(module):
    module.reward = lambda x, cond=None: -(x[:, 0] - 1) ** 2
    module._trainer = None
    module.target_paths = module.build_target_paths(64)
    module.fractions = [0.5, 0.0, 0.25, 0.25]
    out = module.draw(None, 16, 0.0)
    states, new = out["states"], out["new"]
    assert states.shape[0] == 16 and int(new.sum()) == 12          # bank paths are not new samples
    bank_rows = states[~new]
    # each replayed path is one of the bank's, whole (every state, not a re-noised terminal)
    assert all((module.target_paths.states == s).flatten(1).all(1).any() for s in bank_rows)
    torch.testing.assert_close(out["log_r"][~new], module.reward(bank_rows[:, -1]))
    torch.testing.assert_close(out["log_pf"], module.process.log_prob(module.posterior, states).sum(1), rtol=1e-5, atol=1e-3)
    torch.testing.assert_close(out["log_ref"], module.process.log_prob(module.prior, states).sum(1), rtol=1e-5, atol=1e-3)


@pytest.mark.parametrize("args, match", [
    (["sampling.target=-0.1"], "sampling.target=-0.1 must be a non-negative number"),
    (["sampling.prior=many"], "sampling.prior='many'"),
    (["sampling.target=0.3", "sampling.target_proposals=0"], "sampling.target_proposals=0 must be a positive"),
    (["domain=gmm25", "method=vargrad", "sampling.target=0.3"], "scored against a reference process"),
    (["method=rl_kl", "sampling.target=0.3"], "sampling.target=0"),
    (["sampling.on_policy=0", "sampling.buffer=0", "sampling.prior=0"], "all 0: no trajectory to train on"),
    (["sampling.target_nll_end=1"], "sampling.target_nll_end=1 must be .* only with sampling.target > 0"),
    (["sampling.target=0.3", "sampling.target_nll_end=soon"], "sampling.target_nll_end='soon'"),
    (["sampling.target=0.3", "sampling.target_nll_decay_steps=-5"], "target_nll_decay_steps=-5 must be a non-negative whole"),
    (["sampling.target=0.3", "sampling.target_nll_hold_steps=1.5"], "target_nll_hold_steps=1.5"),
])
def test_bad_target_paths_config_is_refused(tmp_path, args, match):
    from rtb_lightning.builders import check_method

    with pytest.raises(ConfigError, match=match):
        check_method(_config(tmp_path, *args))


def test_target_nll_adds_the_bank_paths_likelihood_gradient(tmp_path):
    module = _build(_config(tmp_path, "prior.kind=analytic", "sampling.target=0.25", "sampling.target_nll=3"), tmp_path)
    module.reward = lambda x, cond=None: -(x[:, 0] - 1) ** 2
    module._trainer = None
    module.target_paths = module.build_target_paths(64)
    params = [p for p in module.posterior.parameters() if p.requires_grad]
    torch.nn.init.normal_(params[-1], std=0.1)                    # a posterior off the prior: non-zero gradients
    grads = []
    for w in (3.0, 0.0):
        module.target_nll = w
        torch.manual_seed(0)
        module.zero_grad(set_to_none=True)
        _, out = module.accumulate_gradients(None, 0)
        grads.append([p.grad.clone() for p in params])
    rows = out["target"]
    assert int(rows.sum()) == 3          # 0.25 of 1.25 (the fractions are renormalised) of 16
    s = module.process.log_prob(module.posterior, out["states"][rows]).sum()
    want = torch.autograd.grad(-3.0 * s / len(rows), params)
    for a, b, g in zip(*grads, want):
        torch.testing.assert_close(a - b, g, rtol=1e-4, atol=1e-5)


def test_target_nll_schedule_weighs_the_term_by_the_step(tmp_path):
    """target_nll_end: held at target_nll, then linear to the end weight; each step's gradient is the
    constant-weight gradient at that step's weight."""
    args = ("prior.kind=analytic", "sampling.target=0.25", "sampling.target_nll=2")
    sched = _build(_config(tmp_path, *args, "sampling.target_nll_end=0", "sampling.target_nll_hold_steps=10",
                           "sampling.target_nll_decay_steps=20"), tmp_path)
    assert [sched.target_nll(s) for s in (0, 10, 20, 30, 99)] == [2.0, 2.0, 1.0, 0.0, 0.0]
    const = _build(_config(tmp_path, *args), tmp_path)
    assert const.target_nll == 2.0                                 # no end weight: a plain number, as before
    const.load_state_dict(sched.state_dict())
    for m in (sched, const):
        m.reward = lambda x, cond=None: -(x[:, 0] - 1) ** 2
        m._trainer = None
        torch.manual_seed(1)
        m.target_paths = m.build_target_paths(64)
        torch.nn.init.normal_([p for p in m.posterior.parameters() if p.requires_grad][-1], std=0.1)
    const.load_state_dict(sched.state_dict())

    def grads(m, step):
        torch.manual_seed(0)
        m.zero_grad(set_to_none=True)
        _, out = m.accumulate_gradients(None, step)
        return out["target_nll"], [p.grad.clone() for p in m.posterior.parameters() if p.requires_grad]

    for step, w in ((5, 2.0), (20, 1.0), (40, 0.0)):
        const.target_nll = w
        (ws, a), (wc, b) = grads(sched, step), grads(const, step)
        assert ws == wc == w
        for x, y in zip(a, b):
            torch.testing.assert_close(x, y)
    const.target_nll = 2.0
    _, a = grads(sched, 40)
    _, b = grads(const, 40)
    assert any(not torch.allclose(x, y) for x, y in zip(a, b))    # the weight does change the gradient


def test_posterior_seed_varies_the_fine_tuning_alone_and_null_keeps_the_run_seed(tmp_path):
    from rtb_lightning.builders import build_posterior_run

    def build(*extra):
        torch.manual_seed(123)                      # what train.py's seed_everything leaves behind
        cfg = _config(tmp_path, "prior.kind=trained", "seed=4", *extra)
        if not prior_path(cfg).is_file():
            save_prior(build_network(cfg.prior.network, build_domain(cfg, "posterior")), cfg, prior_path(cfg))
        _, module, _ = build_posterior_run(cfg, tmp_path / "run")
        return cfg, module, torch.cat([p.detach().flatten() for p in module.posterior.parameters()])

    cfg0, m0, w0 = build()
    assert m0.seed == 4                             # null: the run's seed drives the stream, as before the key
    cfg1, m1, w1 = build("posterior.seed=1")
    cfg1b, _, w1b = build("posterior.seed=1")
    cfg2, m2, w2 = build("posterior.seed=2")
    assert (m1.seed, m2.seed) == (1, 2)
    assert torch.equal(w1, w1b) and not torch.equal(w1, w2)            # network init follows posterior.seed
    assert prior_path(cfg0) == prior_path(cfg1) == prior_path(cfg2)     # the cached prior is shared
    for bad in ("-1", "1.5", "abc"):
        with pytest.raises(ConfigError, match="posterior.seed"):
            build(f"posterior.seed={bad}")
