"""Replay buffer: capacity and eviction, rank-prioritised weights and sampling, checkpoints, conditions."""
import io

import pytest
import torch

from rtb_lightning.replay_buffer import ReplayBuffer


def _items(start, n):
    """x[i] = (i, -i); log r = i: each sample carries its own identity."""
    i = torch.arange(start, start + n, dtype=torch.float32)
    return torch.stack([i, -i], 1), i.clone()


def test_capacity_is_respected():
    buf = ReplayBuffer(100)
    assert len(buf) == 0
    for k in range(3):
        buf.add(*_items(40 * k, 40))
        assert len(buf) == min(100, 40 * (k + 1))
    buf.add(*_items(1000, 250))                    # one batch larger than the capacity
    assert len(buf) == 100


def test_fifo_eviction_keeps_the_newest_in_order():
    buf = ReplayBuffer(100, eviction="fifo")
    for k in range(3):
        buf.add(*_items(40 * k, 40))
    assert torch.equal(buf.log_r, torch.arange(20, 120, dtype=torch.float32))
    assert torch.equal(buf.x[:, 0], buf.log_r) and torch.equal(buf.x[:, 1], -buf.log_r)


def test_lowest_eviction_keeps_the_highest_rewards():
    buf = ReplayBuffer(50, eviction="lowest")
    x, log_r = _items(0, 200)
    perm = torch.randperm(200)
    for chunk in perm.split(30):
        buf.add(x[chunk], log_r[chunk])
    assert len(buf) == 50
    assert torch.equal(buf.log_r.sort().values, torch.arange(150, 200, dtype=torch.float32))
    assert torch.equal(buf.x[:, 0], buf.log_r)     # x stays paired with its log r


@pytest.mark.parametrize("k", [0.01, 0.1, 1.0])
def test_rank_weights_are_one_over_kN_plus_rank(k):
    n = 37
    log_r = torch.randn(n)
    buf = ReplayBuffer(1000, prioritization="rank", rank_k=k)
    buf.add(torch.randn(n, 2), log_r)
    w = buf.weights()
    rank = torch.empty(n, dtype=torch.float64)     # 0 for the highest log r (as in gfn-diffusion)
    for r, i in enumerate(torch.argsort(log_r, descending=True).tolist()):
        rank[i] = r
    want = 1.0 / (k * n + rank)
    torch.testing.assert_close(w.double(), want, rtol=1e-6, atol=0)
    assert w[log_r.argmax()].item() == pytest.approx(1 / (k * n), rel=1e-6)


def test_uniform_weights():
    buf = ReplayBuffer(10, prioritization="uniform")
    buf.add(*_items(0, 7))
    assert torch.equal(buf.weights(), torch.ones(7))


def test_prioritised_sampling_frequencies_follow_the_weights():
    n, draws = 50, 40000
    buf = ReplayBuffer(1000, prioritization="rank", rank_k=0.01)
    buf.add(*_items(0, n))                          # log r = 0..49: item 49 is the best
    g = torch.Generator().manual_seed(0)
    x, log_r, cond = buf.sample(draws, generator=g)
    assert x.shape == (draws, 2) and cond is None
    assert torch.equal(x[:, 0], log_r)
    freq = torch.bincount(log_r.long(), minlength=n).double() / draws
    p = buf.weights().double() / buf.weights().double().sum()
    se = (p * (1 - p) / draws).sqrt()
    assert ((freq - p).abs() <= 5 * se + 1e-4).all()
    assert freq[-1] > 10 * freq[0]                  # high reward is strongly favoured
    assert freq[25:].sum() > 0.8


def test_uniform_sampling_is_flat():
    buf = ReplayBuffer(1000, prioritization="uniform")
    buf.add(*_items(0, 10))
    _, log_r, _ = buf.sample(20000, generator=torch.Generator().manual_seed(1))
    freq = torch.bincount(log_r.long(), minlength=10).double() / 20000
    assert (freq - 0.1).abs().max() < 0.015


def test_sample_from_empty_buffer_raises():
    with pytest.raises(RuntimeError, match="empty"):
        ReplayBuffer(5).sample(3)


@pytest.mark.parametrize("kw", [{"prioritization": "best"}, {"eviction": "random"}])
def test_bad_options_raise(kw):
    with pytest.raises(ValueError):
        ReplayBuffer(5, **kw)


def test_state_dict_round_trip_through_torch_save():
    buf = ReplayBuffer(30, rank_k=0.05)
    x, log_r = _items(0, 40)
    buf.add(x, log_r, cond=torch.arange(40) % 3)
    blob = io.BytesIO()
    torch.save(buf.state_dict(), blob)
    blob.seek(0)
    other = ReplayBuffer(30, rank_k=0.05)
    other.load_state_dict(torch.load(blob, weights_only=True))
    assert len(other) == 30
    for a, b in zip(buf.state_dict().values(), other.state_dict().values()):
        assert torch.equal(a, b)
    s1 = buf.sample(64, generator=torch.Generator().manual_seed(3))
    s2 = other.sample(64, generator=torch.Generator().manual_seed(3))
    for a, b in zip(s1, s2):
        assert torch.equal(a, b)


def test_state_dict_is_a_snapshot():
    buf = ReplayBuffer(10)
    buf.add(*_items(0, 5))
    snap = {k: None if v is None else v.clone() for k, v in buf.state_dict().items()}
    state = buf.state_dict()
    buf.add(*_items(5, 10))
    assert torch.equal(state["x"], snap["x"]) and torch.equal(state["log_r"], snap["log_r"])


@pytest.mark.parametrize("eviction", ["fifo", "lowest"])
def test_conditions_are_stored_and_stay_paired(eviction):
    buf = ReplayBuffer(25, eviction=eviction)
    for start in (0, 20, 40):
        x, log_r = _items(start, 20)
        buf.add(x, log_r, cond=log_r.long() % 5)      # the condition is a function of the sample
    assert len(buf) == 25 and buf.cond.shape == (25,)
    assert torch.equal(buf.cond, buf.log_r.long() % 5)
    x, log_r, cond = buf.sample(200, generator=torch.Generator().manual_seed(0))
    assert torch.equal(cond, log_r.long() % 5) and torch.equal(x[:, 0], log_r)


def test_add_detaches():
    buf = ReplayBuffer(10)
    x = torch.randn(3, 2, requires_grad=True)
    buf.add(x * 2, (x ** 2).sum(1))
    assert not buf.x.requires_grad and not buf.log_r.requires_grad


def test_a_pinned_seed_is_never_evicted_and_is_a_fixed_share_of_every_draw():
    buf = ReplayBuffer(50, prioritization="uniform", seed_share=0.25)
    buf.add(*_items(-1000, 20), pin=True)            # the seed: log r < 0
    x, log_r, _ = buf.sample(40)
    assert (log_r < 0).all()                           # only the seed so far: every draw comes from it
    for k in range(10):
        buf.add(*_items(40 * k, 40))                   # 400 ordinary samples through a capacity of 50
    assert len(buf) == 70 and torch.equal(buf.seed[1], torch.arange(-1000, -980, dtype=torch.float32))
    assert torch.equal(buf.log_r, torch.arange(350, 400, dtype=torch.float32))   # FIFO among the others
    torch.manual_seed(0)
    x, log_r, _ = buf.sample(1000)
    assert int((log_r < 0).sum()) == 250               # exactly the share, not the seed's 20/70 of the rows
    assert torch.equal(x[:, 0], log_r)                 # rows stay aligned across the two parts


def test_without_seed_share_a_pinned_seed_mixes_and_is_evicted_as_before():
    buf = ReplayBuffer(50, prioritization="uniform")
    buf.add(*_items(-1000, 20), pin=True)
    buf.add(*_items(0, 40))
    assert buf.seed is None and len(buf) == 50 and (buf.log_r < 0).sum() == 10


def test_seed_survives_a_checkpoint_and_old_checkpoints_load():
    buf = ReplayBuffer(50, seed_share=0.5)
    buf.add(*_items(-10, 5), pin=True)
    buf.add(*_items(0, 8))
    f = io.BytesIO()
    torch.save(buf.state_dict(), f)
    f.seek(0)
    other = ReplayBuffer(50, seed_share=0.5)
    other.load_state_dict(torch.load(f))
    assert len(other) == 13 and torch.equal(other.seed[1], buf.seed[1]) and torch.equal(other.log_r, buf.log_r)
    old = {"x": buf.x, "log_r": buf.log_r, "cond": None}  # saved before seed_share existed
    other.load_state_dict(old)
    assert other.seed is None and len(other) == 8
    mixed = ReplayBuffer(50)                           # resumed without seed_share: the seed joins, oldest first
    mixed.load_state_dict(buf.state_dict())
    assert mixed.seed is None and torch.equal(mixed.log_r, torch.cat([buf.seed[1], buf.log_r]))
    mixed.sample(4)


@pytest.mark.parametrize("share", [-0.1, 1.5])
def test_seed_share_out_of_range_is_refused(share):
    with pytest.raises(ValueError, match="seed_share"):
        ReplayBuffer(10, seed_share=share)
