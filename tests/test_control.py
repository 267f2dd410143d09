"""Offline RL control (issue 6): the HDF5 loader and its bad inputs, the embedded Pendulum data, the
IQL critic, a short RTB run against the critic, and policy rollouts."""
import numpy as np
import pytest
import torch

from rtb_lightning.errors import UserError

from .test_bad_input import _cli

gym = pytest.importorskip("gymnasium")

SMALL = ["domain=pendulum", "domain.dataset.episodes=6", "prior.steps=300", "prior.network.hidden=64",
         "domain.critic.steps=1200", "domain.critic.hidden=64", "domain.critic.lr=0.002", "domain.alpha=50.0", "domain.eval.episodes=2", "trainer.max_steps=80",
         "posterior.batch_size=64", "posterior.log_z_init_samples=128", "eval.every_n_steps=0", "eval.num_samples=128",
         "trainer.enable_progress_bar=false", "checkpoint.every_n_steps=1000"]


def _arrays(n=50, obs_dim=3, act_dim=1, seed=0):
    rng = np.random.default_rng(seed)
    obs = rng.normal(size=(n + 1, obs_dim)).astype(np.float32)
    timeouts = np.zeros(n, np.float32)
    timeouts[n // 2 - 1] = timeouts[-1] = 1
    return {"observations": obs[:-1], "next_observations": obs[1:], "actions": rng.uniform(-2, 2, (n, act_dim)),
            "rewards": -rng.random(n), "terminals": np.zeros(n, np.float32), "timeouts": timeouts}


def _write_hdf5(path, arrays):
    h5py = pytest.importorskip("h5py")
    with h5py.File(path, "w") as f:
        for k, v in arrays.items():
            f.create_dataset(k, data=v)
    return path


# ---- loader ----
def test_hdf5_loader_reads_d4rl_keys(tmp_path):
    from rtb_lightning.control.offline_data import load_hdf5

    a = _arrays()
    d = load_hdf5(_write_hdf5(tmp_path / "d.hdf5", a))
    assert len(d) == 50 and d.obs_dim == 3 and d.act_dim == 1
    assert torch.allclose(d.actions, torch.as_tensor(a["actions"], dtype=torch.float32))
    assert torch.allclose(d.next_observations[:-1], d.observations[1:])
    assert d.terminals.sum() == 0 and d.timeouts.sum() == 2


@pytest.mark.parametrize("break_it, expect", [
    (lambda a: a.pop("rewards"), "lacks the key(s) rewards"),
    (lambda a: (a.pop("terminals"), a.pop("timeouts")), "terminals (or timeouts)"),
    (lambda a: a.update(actions=a["actions"][:-3]), "arrays of different lengths"),
    (lambda a: a["observations"].__setitem__((4, 1), np.nan), "'observations' has 1 rows with NaN"),
])
def test_bad_dataset_file_is_one_clear_error(tmp_path, break_it, expect):
    from rtb_lightning.control.offline_data import load_hdf5

    a = _arrays()
    break_it(a)
    with pytest.raises(UserError) as e:
        load_hdf5(_write_hdf5(tmp_path / "bad.hdf5", a))
    assert expect in e.value.message and str(tmp_path) in e.value.message


def test_bad_inputs_through_the_cli(tmp_path, capsys):
    good = _write_hdf5(tmp_path / "good.hdf5", _arrays())
    wide = _write_hdf5(tmp_path / "wide.hdf5", _arrays(act_dim=2))
    nan = _arrays()
    nan["rewards"][3] = np.nan
    nan = _write_hdf5(tmp_path / "nan.hdf5", nan)
    cases = [
        (["domain=offline_rl", f"data.path={good}", "domain.env_id=NoSuchEnv-v9"], "cannot create environment 'NoSuchEnv-v9'"),
        (["domain=offline_rl"], "data.path is not set"),
        (["domain=offline_rl", f"data.path={good}"], "domain.env_id is not set"),
        (["domain=offline_rl", f"data.path={wide}", "domain.env_id=Pendulum-v1"], "has 2-dimensional actions, but Pendulum-v1 takes 1"),
        (["domain=offline_rl", f"data.path={nan}", "domain.env_id=Pendulum-v1"], "'rewards' has 1 rows with NaN"),
        (["domain=offline_rl", f"data.path={tmp_path / 'none.hdf5'}", "domain.env_id=Pendulum-v1"], "dataset file not found"),
        (["stage=critic"], "stage=critic is for offline RL domains"),
    ]
    for argv, expect in cases:
        code = _cli()([*argv, "stage=dataset" if "stage=critic" not in argv else "domain=toy2d",
                       f"run_dir={tmp_path / 'run'}", f"cache_dir={tmp_path / 'c'}"])
        err = capsys.readouterr().err
        assert code == 2 and err.startswith("error: ") and expect in err, (argv, err)


def test_prior_of_other_action_dims_is_refused(tmp_path):
    """A cached prior (or critic) records the dimensions it models; a dataset of other dimensions at
    the same path is refused by name, not by a tensor-shape traceback."""
    from rtb_lightning.builders import build_domain, build_network
    from rtb_lightning.config import load_config
    from rtb_lightning.prior_cache import load_prior, prior_path, save_prior

    path = _write_hdf5(tmp_path / "d.hdf5", _arrays())
    cfg = load_config(["domain=offline_rl", f"data.path={path}", "domain.env_id=Pendulum-v1", f"cache_dir={tmp_path}"])
    dom = build_domain(cfg, "prior")
    save_prior(build_network(cfg.prior.network, dom), cfg, prior_path(cfg), {**dom.state_dict(), "act_dim": 2})
    with pytest.raises(UserError, match="models 2-dimensional actions of 3-dimensional states"):
        load_prior(build_network(cfg.prior.network, dom), prior_path(cfg), dom)


# ---- embedded data, critic, rollouts ----
def test_embedded_dataset_is_mixed_quality_and_cached(tmp_path):
    from rtb_lightning.control.pendulum import generate

    d = generate(episodes=9, seed=3)
    assert d["observations"].shape == (9 * 200, 3) and d["actions"].shape == (9 * 200, 1)
    assert np.abs(d["actions"]).max() <= 2.0 and d["timeouts"].sum() == 9
    by = {c: d["episode_returns"][d["episode_component"] == c] for c in set(d["episode_component"].tolist())}
    assert set(by) == {0, 1, 2}                           # all three components played
    assert by[0].mean() > by[1].mean() > by[2].mean() + 300   # expert > half-random > random episodes
    code = _cli()(["domain=pendulum", "stage=dataset", "domain.dataset.episodes=3", f"cache_dir={tmp_path}",
                   f"run_dir={tmp_path / 'run'}"])
    assert code == 0 and len(list(tmp_path.glob("dataset-Pendulum-v1-*.npz"))) == 1


def test_rollouts_rank_expert_above_random():
    from rtb_lightning.control.environment import rollout_returns
    from rtb_lightning.control.pendulum import expert_policy

    rng = np.random.default_rng(0)
    expert = rollout_returns(expert_policy, "Pendulum-v1", [5, 6, 7])
    random = rollout_returns(lambda o: rng.uniform(-2, 2, (len(o), 1)), "Pendulum-v1", [5, 6, 7])
    assert expert.shape == (3,) and expert.mean() > random.mean() + 500
    assert np.array_equal(expert, rollout_returns(expert_policy, "Pendulum-v1", [5, 6, 7]))   # fixed seeds


def test_expectile_loss_matches_its_definition():
    from rtb_lightning.control.iql import expectile_loss

    d = torch.tensor([-2.0, 1.0, 3.0])
    assert torch.isclose(expectile_loss(d, 0.7), torch.tensor((0.3 * 4 + 0.7 * 1 + 0.7 * 9) / 3))
    # tau = 0.5 is half the mean squared error, whose minimiser is the mean
    x = torch.tensor([0.0, 1.0, 5.0])
    v = torch.zeros((), requires_grad=True)
    opt = torch.optim.SGD([v], lr=0.5)
    for _ in range(200):
        opt.zero_grad()
        expectile_loss(x - v, 0.9).backward()
        opt.step()
    assert v.item() > x.mean().item()                     # the 0.9-expectile lies above the mean


def test_critic_training_lowers_td_error(tmp_path):
    from rtb_lightning.control.iql import Critic, IQLModule, td_error
    from rtb_lightning.domains.control import ControlDomain

    dom = ControlDomain(dataset={"episodes": 4}, cache_dir=tmp_path)
    held = dom.transitions(1024)
    module = IQLModule(Critic(3, 1, 64, 2), lr=1e-3, total_steps=400)
    opt = module.configure_optimizers()["optimizer"]
    before = td_error(module.critic, held, 0.99)
    for _ in range(400):
        opt.zero_grad()
        sum(module.losses(dom.transitions(128))).backward()
        opt.step()
        module.on_train_batch_end(None, None, 0)
    after = td_error(module.critic, held, 0.99)
    assert after < 0.3 * before, (before, after)


@pytest.mark.slow
def test_short_rtb_run_raises_q_with_finite_kl(tmp_path):
    """Dataset, prior, critic and 80 RTB steps: the posterior's actions have a higher Q than the
    prior's on the same states, the KL to the prior is finite, and the rollout evaluation ran."""
    import json

    from rtb_lightning.builders import build_posterior_run
    from rtb_lightning.config import load_config

    cfg = load_config([*SMALL, f"cache_dir={tmp_path / 'c'}", f"run_dir={tmp_path / 'run'}"])
    trainer, module, domain = build_posterior_run(cfg, tmp_path / "run")
    torch.manual_seed(1)
    states = domain.sample_conditions(1024)
    q = lambda model: domain.critic.q(states, module.process.sample(model, len(states), states)[0][:, -1].clamp(-1, 1))
    with torch.no_grad():
        q_prior = q(module.prior)
    trainer.fit(module, datamodule=domain)
    with torch.no_grad():
        q_post = q(module.posterior)
        _, lp, lref = module.sample_scored(512, states[:512])
    kl = (lp - lref).mean()
    diff = q_post - q_prior                # paired on the same states: the states' spread of Q cancels
    gain, se = diff.mean(), diff.std() / len(diff) ** 0.5
    print(f"mean Q prior {q_prior.mean():.4f} posterior {q_post.mean():.4f} (gain {gain / se:.1f} standard errors), KL {kl:.3f}")
    assert gain > 4 * se, (q_post.mean(), q_prior.mean(), se)
    assert torch.isfinite(kl) and 0 < kl < 20
    m = json.loads((tmp_path / "run" / "metrics.json").read_text())
    for k in ("normalized_return", "bc_normalized_return", "iql_normalized_return", "mean_return", "mean_q"):
        assert np.isfinite(m[k]), k
    assert m["random_return"] < m["reference_return"]


def test_file_reference_score_is_the_best_episode(tmp_path):
    """Without D4RL reference scores, a file's 100 points are its best episode (split at timeouts/terminals)."""
    from rtb_lightning.domains.control import OfflineRL

    a = _arrays()
    dom = OfflineRL(data={"path": str(_write_hdf5(tmp_path / "d.hdf5", a))}, env_id="Pendulum-v1")
    best = max(a["rewards"][:25].sum(), a["rewards"][25:].sum())
    assert dom.best_episode_return() == pytest.approx(best, rel=1e-5)


# ---- embedded HalfCheetah-v5 (needs mujoco) ----
HC_ENV = dict(max_episode_steps=40, clock_period=8)


def test_gait_clock_is_appended_and_drives_the_gait():
    """The wrapper appends (sin, cos) of 2π·t/P; a gait with b = 0, A = 1, φ = 0 plays sin(2π·t/P)."""
    pytest.importorskip("mujoco")
    from rtb_lightning.control.environment import make_env
    from rtb_lightning.control.halfcheetah import gait

    env = make_env("HalfCheetah-v5", **HC_ENV)
    obs, _ = env.reset(seed=0)
    assert obs.shape == (19,) and np.allclose(obs[-2:], [0, 1])
    params = np.stack([np.zeros(6), np.ones(6), np.zeros(6)])
    for t in range(1, 6):
        a = gait(obs[None], params)[0]
        assert np.allclose(a, np.sin(2 * np.pi * (t - 1) / 8), atol=1e-6)
        obs, *_ = env.step(a.astype(np.float32))
        assert np.allclose(obs[-2:], [np.sin(2 * np.pi * t / 8), np.cos(2 * np.pi * t / 8)], atol=1e-6)
    env.close()


def test_halfcheetah_dataset_is_mixed_quality():
    pytest.importorskip("mujoco")
    from rtb_lightning.control.environment import rollout_returns
    from rtb_lightning.control.halfcheetah import expert_from, generate

    d = generate(episodes=9, seed=1, search_iters=3, search_population=8, env_kwargs=HC_ENV)
    assert d["observations"].shape == (9 * 40, 19) and d["actions"].shape == (9 * 40, 6)
    assert np.abs(d["actions"]).max() <= 1.0 and d["timeouts"].sum() == 9 and d["expert_params"].shape == (3, 6)
    by = {c: d["episode_returns"][d["episode_component"] == c] for c in set(d["episode_component"].tolist())}
    assert {0, 2} <= set(by) and by[0].mean() > by[2].mean()     # gait + noise episodes beat random ones
    rng = np.random.default_rng(0)
    gait = rollout_returns(expert_from(d), "HalfCheetah-v5", [5, 6], **HC_ENV)
    random = rollout_returns(lambda o: rng.uniform(-1, 1, (len(o), 6)), "HalfCheetah-v5", [5, 6], **HC_ENV)
    assert gait.mean() > random.mean() + 5


def test_halfcheetah_dataset_is_cached(tmp_path):
    """stage=dataset writes one file keyed by the settings; the domain then loads it without regenerating."""
    pytest.importorskip("mujoco")
    from rtb_lightning.domains.control import HalfCheetah

    small = ["domain=halfcheetah", "stage=dataset", "domain.dataset.episodes=2", "domain.dataset.search_iters=1",
             "domain.dataset.search_population=4", "domain.max_episode_steps=20", f"cache_dir={tmp_path}",
             f"run_dir={tmp_path / 'run'}"]
    assert _cli()(small) == 0
    files = list(tmp_path.glob("dataset-HalfCheetah-v5-*.npz"))
    assert len(files) == 1
    stamp, saved = files[0].stat().st_mtime_ns, dict(np.load(files[0]))
    dom = HalfCheetah(env_id="HalfCheetah-v5", cache_dir=tmp_path, max_episode_steps=20, clock_period=8,
                      dataset={"episodes": 2, "seed": 0, "mix": [0.3333, 0.3333, 0.3333], "noise": 0.3,
                               "search_iters": 1, "search_population": 4})
    assert len(dom.data) == 40 and dom.obs_dim == 19 and dom.event_shape == (6,)
    assert files[0].stat().st_mtime_ns == stamp                   # loaded, not regenerated
    assert torch.equal(dom.data.actions, torch.as_tensor(saved["actions"]))
    params = torch.as_tensor(saved["expert_params"]).double().numpy()
    obs = saved["observations"][:5]
    assert np.allclose(dom._expert()(obs), np.clip(params[0] + params[1] * np.sin(
        np.arctan2(obs[:, -2:-1], obs[:, -1:]) + params[2]), -1, 1), atol=1e-5)


def test_missing_mujoco_names_the_install(monkeypatch):
    import sys

    from rtb_lightning.control.environment import make_env

    monkeypatch.setitem(sys.modules, "mujoco", None)              # import mujoco now fails
    for name in [m for m in sys.modules if m.startswith("gymnasium.envs.mujoco")]:
        monkeypatch.delitem(sys.modules, name)
    with pytest.raises(UserError) as e:
        make_env("HalfCheetah-v5")
    assert "cannot create environment 'HalfCheetah-v5'" in e.value.message and "pip install mujoco imageio" in e.value.hint
