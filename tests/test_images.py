"""Image domains: UNet, classifier reward, reward by import path, per-class log Z, image metrics."""
import math
import sys

import pytest
import torch

from rtb_lightning.errors import ConfigError, RewardError
from rtb_lightning.log_z import LogZ
from rtb_lightning.networks import TimeUNet
from rtb_lightning.networks.classifier import ConvClassifier, FeatureNet
from rtb_lightning.processes import VPProcess
from rtb_lightning.rewards import CallableReward, ClassifierReward, check_reward, load_target


# ---- UNet ----
@pytest.mark.parametrize("shape,mult", [((1, 8, 8), (1, 2)), ((3, 16, 16), (1, 2, 2)), ((1, 28, 28), (1, 2))])
def test_unet_keeps_the_image_shape(shape, mult):
    net = TimeUNet(shape, channels=8, channel_mult=mult, time_dim=16)
    x = torch.randn(5, *shape)
    assert net(x, torch.rand(5)).shape == x.shape


def test_unet_output_depends_on_time_and_class():
    net = TimeUNet((1, 8, 8), channels=8, time_dim=16, num_classes=10)
    x = torch.randn(4, 1, 8, 8)
    c = torch.tensor([0, 1, 2, 3])
    a = net(x, torch.full((4,), 0.1), c)
    assert not torch.allclose(a, net(x, torch.full((4,), 0.9), c))
    assert not torch.allclose(a, net(x, torch.full((4,), 0.1), c + 1))
    # rows are independent: one row evaluated alone gives the same output (no batch coupling)
    assert torch.allclose(a[2:3], net(x[2:3], torch.full((1,), 0.1), c[2:3]), atol=1e-5)
    with pytest.raises(ValueError, match="class input"):
        net(x, torch.rand(4))


def test_unet_zero_init_and_bad_sizes():
    net = TimeUNet((1, 8, 8), channels=8, time_dim=16, zero_init=True)
    assert net(torch.randn(3, 1, 8, 8), torch.rand(3)).abs().max() == 0
    with pytest.raises(ValueError, match="not divisible"):
        TimeUNet((1, 6, 6), channels=8, channel_mult=(1, 2, 2))
    with pytest.raises(ValueError, match="images"):
        TimeUNet((2,), channels=8)


def test_unet_prior_loss_decreases():
    torch.manual_seed(0)
    proc = VPProcess((1, 8, 8), num_steps=10, num_train_steps=100)
    net = TimeUNet((1, 8, 8), channels=8, time_dim=16)
    # structured data: blobs at random positions
    yy, xx = torch.meshgrid(torch.arange(8.0), torch.arange(8.0), indexing="ij")
    centres = torch.randint(2, 6, (64, 2)).float()
    data = (torch.exp(-((yy - centres[:, 0, None, None]) ** 2 + (xx - centres[:, 1, None, None]) ** 2) / 2) * 2 - 1)[:, None]

    def loss_at(seed):
        torch.manual_seed(seed)
        with torch.no_grad():
            return float(sum(proc.diffusion_loss(net, data) for _ in range(8)) / 8)

    before = loss_at(123)
    opt = torch.optim.Adam(net.parameters(), lr=3e-3)
    for _ in range(60):
        opt.zero_grad()
        proc.diffusion_loss(net, data).backward()
        opt.step()
    assert loss_at(123) < 0.7 * before


def test_build_network_kinds():
    from rtb_lightning.builders import build_network
    from rtb_lightning.config import load_config
    from rtb_lightning.domains import Digits, Toy2D

    cfg = load_config(["prior.network.kind=unet", "prior.network.channels=8"])
    assert isinstance(build_network(cfg.prior.network, Digits()), TimeUNet)
    with pytest.raises(ConfigError, match="needs images"):
        build_network(cfg.prior.network, Toy2D())
    with pytest.raises(ConfigError, match="prior.network.kind"):
        load_config(["prior.network.kind=transformer"])


# ---- classifier reward ----
def _clf():
    torch.manual_seed(0)
    return ConvClassifier((1, 8, 8), 10, channels=4, depth=2, feature_dim=8)


def test_classifier_log_probs_are_normalised_and_sets_use_logsumexp():
    clf, x = _clf(), torch.randn(6, 1, 8, 8)
    per_class = torch.stack([ClassifierReward(clf, [c])(x) for c in range(10)], 1)
    assert torch.allclose(torch.logsumexp(per_class, 1), torch.zeros(6), atol=1e-5)
    even = ClassifierReward(clf, [0, 2, 4, 6, 8])(x)
    assert torch.allclose(even, torch.logsumexp(per_class[:, [0, 2, 4, 6, 8]], 1), atol=1e-6)
    assert (even > per_class[:, [0, 2, 4, 6, 8]].max(1).values).all()          # a sum, never a max
    cond = torch.tensor([3, 1, 4, 1, 5, 9])
    assert torch.allclose(ClassifierReward(clf, [3])(x, cond), per_class[torch.arange(6), cond], atol=1e-6)
    assert not any(p.requires_grad for p in clf.parameters())


def test_classes_outside_the_classifier_range_are_config_errors():
    from rtb_lightning.domains import Digits

    for bad in ([10], [-1], [], [3, "a"]):
        with pytest.raises(ConfigError, match="reward.classes"):
            Digits(classes=bad)
    assert Digits(classes=[5, 3, 5]).classes == [3, 5]
    assert Digits().classes == [3] and Digits(conditional=True).classes == list(range(10))


def test_each_classifier_trains_with_its_own_noise_and_its_cache_key_follows_only_that(tmp_path, monkeypatch):
    from rtb_lightning import reward_builders
    from rtb_lightning.config import load_config
    from rtb_lightning.prior_cache import classifier_path

    cfg = lambda *a: load_config(["domain=digits", f"cache_dir={tmp_path}", *a])
    base = {r: classifier_path(cfg(), r) for r in ("reward", "eval")}
    louder = {r: classifier_path(cfg("classifier.noise_max=0.7"), r) for r in ("reward", "eval")}
    judge = {r: classifier_path(cfg("classifier.eval_noise_max=1.0"), r) for r in ("reward", "eval")}
    assert louder["reward"] != base["reward"] and louder["eval"] == base["eval"]
    assert judge["eval"] != base["eval"] and judge["reward"] == base["reward"]

    seen = {}

    class Stop(Exception):
        pass

    def fake_module(net, lr, steps, noise_max):
        seen["noise_max"] = noise_max
        raise Stop

    monkeypatch.setattr(reward_builders, "ClassifierModule", fake_module)
    c = cfg("classifier.noise_max=0.9", "classifier.eval_noise_max=0.3")
    from rtb_lightning.builders import build_domain
    d = build_domain(c, "classifier")
    for role, want in (("reward", 0.9), ("eval", 0.3)):
        with pytest.raises(Stop):
            reward_builders.train_classifier(c, d, role, tmp_path)
        assert seen["noise_max"] == want
    with pytest.raises(ConfigError, match="classifier.eval_noise_max=-0.1 is negative"):
        reward_builders.train_classifier(cfg("classifier.eval_noise_max=-0.1"), d, "eval", tmp_path)


# ---- reward by import path ----
@pytest.fixture
def reward_module(tmp_path, monkeypatch):
    (tmp_path / "my_rewards.py").write_text(
        "import torch\n"
        "def brightness(x):\n    return x.flatten(1).mean(1)\n"
        "def with_cond(x, cond):\n    return x.flatten(1).mean(1) + (0 if cond is None else cond.float())\n"
        "def wrong_shape(x):\n    return x.flatten(1)\n"
        "def not_a_tensor(x):\n    return [0.0] * len(x)\n"
        "NUMBER = 3\n")
    (tmp_path / "broken_rewards.py").write_text("import not_a_real_package_xyz\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    yield
    for m in ("my_rewards", "broken_rewards"):
        sys.modules.pop(m, None)


@pytest.mark.parametrize("target,match", [
    ("my_rewards.brightness", "form package.module:function"),
    ("a:b:c", "form package.module:function"),
    ("no_such_module_abc:fn", "cannot import module 'no_such_module_abc'"),
    ("broken_rewards:fn", "cannot import module 'broken_rewards'.*not_a_real_package_xyz"),
    ("my_rewards:missing", "has no attribute 'missing'"),
    ("my_rewards:NUMBER", "not a callable"),
])
def test_reward_target_import_errors(reward_module, target, match):
    with pytest.raises(ConfigError, match=match):
        load_target(target)


def test_reward_target_calls_and_shape_errors(reward_module):
    x = torch.randn(5, 1, 8, 8)
    r = CallableReward(load_target("my_rewards:brightness"), "b")
    assert torch.allclose(r(x), x.flatten(1).mean(1))
    rc = CallableReward(load_target("my_rewards:with_cond"), "c")
    assert torch.allclose(rc(x, torch.ones(5, dtype=torch.long)), x.flatten(1).mean(1) + 1)
    for name in ("wrong_shape", "not_a_tensor"):
        with pytest.raises(RewardError, match=r"expected a tensor of shape \(5,\)"):
            CallableReward(load_target(f"my_rewards:{name}"), name)(x)
    with pytest.raises(RewardError, match="expected"):
        check_reward(lambda x, c: x.sum(), x)


def test_reward_target_wrong_shape_fails_before_training(reward_module, tmp_path):
    from rtb_lightning.builders import build_domain
    from rtb_lightning.config import load_config
    from rtb_lightning.reward_builders import build_reward

    cfg = load_config(["reward.target=my_rewards:wrong_shape", f"cache_dir={tmp_path}"])
    dom = build_domain(cfg, "posterior")
    with pytest.raises(RewardError, match="expected a tensor"):
        build_reward(cfg, dom, tmp_path)
    cfg = load_config(["reward.target=my_rewards:brightness", f"cache_dir={tmp_path}"])
    dom = build_domain(cfg, "posterior")
    build_reward(cfg, dom, tmp_path)
    x = torch.randn(4, 2)
    assert torch.allclose(dom.log_reward(x), x.mean(1))


def test_conditional_needs_classes():
    from rtb_lightning.builders import build_domain
    from rtb_lightning.config import load_config

    with pytest.raises(ConfigError, match="conditional"):
        build_domain(load_config(["posterior.conditional=true"]), "posterior")


# ---- per-class log Z ----
def test_conditional_log_z_is_a_per_class_table():
    lz = LogZ(4)
    cond = torch.tensor([0, 0, 2, 2, 2])
    w = torch.tensor([0.0, math.log(3.0), -1.0, -1.0, -1.0])
    lz.initialise_from(w, cond)
    pooled = float(torch.logsumexp(w, 0) - math.log(5))
    assert torch.allclose(lz.value, torch.tensor([math.log(2.0), pooled, -1.0, pooled]), atol=1e-6)
    assert torch.equal(lz(cond), lz.value[cond])
    lz(torch.tensor([1, 1])).sum().backward()
    assert torch.equal(lz.value.grad, torch.tensor([0.0, 2.0, 0.0, 0.0]))
    with pytest.raises(ValueError, match="condition"):
        lz(None, 3)
    scalar = LogZ()
    scalar.initialise_from(w)
    assert scalar(None, 3).shape == (3,) and torch.allclose(scalar(None, 1), torch.tensor([pooled]))


# ---- image metrics ----
def test_diversity_and_fid_basics():
    from rtb_lightning.metrics.images import diversity, fid

    f = torch.randn(1, 5).repeat(10, 1)
    assert abs(diversity(f)) < 1e-9
    orth = torch.eye(4)
    assert abs(diversity(orth) - 1.0) < 1e-9
    feat = FeatureNet(_clf())
    x = torch.randn(200, 1, 8, 8)
    assert abs(fid(feat, x, x)) < 1e-3
    assert fid(feat, x, x + 2.0) > fid(feat, x, x + 0.1) > 0


def test_image_evaluator_accuracy_and_per_class_metrics():
    from rtb_lightning.metrics.images import ImageEvaluator, diversity, fid

    class Oracle(ConvClassifier):
        """Predicts the class written in the first pixel."""

        def forward(self, x):
            return torch.nn.functional.one_hot(x[:, 0, 0, 0].round().long(), 10).float() * 20

    clf = Oracle((1, 8, 8), 10, channels=4, feature_dim=8)
    x = torch.randn(40, 1, 8, 8)
    x[:, 0, 0, 0] = torch.tensor([3.0] * 30 + [5.0] * 10)
    real_x = torch.randn(50, 1, 8, 8)
    real = lambda classes: real_x
    ev = ImageEvaluator(clf, real, [3])
    m = ev(x)
    assert m["eval_accuracy"] == pytest.approx(0.75) and {"fid", "diversity"} <= set(m)
    feats = FeatureNet(clf)(x)
    assert m["diversity_in_class"] == pytest.approx(diversity(feats[:30]))      # the 30 samples called 3
    assert m["diversity_in_class"] != pytest.approx(m["diversity"])
    assert m["fid_in_class"] == pytest.approx(fid(FeatureNet(clf), real_x, x[:30]), rel=1e-4)
    cond = torch.tensor([3] * 30 + [4] * 10)
    mc = ev(x, cond)
    assert mc["eval_accuracy"] == pytest.approx(0.75)
    assert mc["eval_accuracy_c3"] == 1.0 and mc["eval_accuracy_c4"] == 0.0 and "fid_c3" in mc
    assert "class_tv" not in m and "class_tv" not in mc                 # a single class / conditional run


def test_class_proportions_of_a_set_against_the_real_images():
    from rtb_lightning.metrics.images import ImageEvaluator

    class Oracle(ConvClassifier):
        def forward(self, x):
            return torch.nn.functional.one_hot(x[:, 0, 0, 0].round().long(), 10).float() * 20

    def labelled(labels):
        x = torch.randn(len(labels), 1, 8, 8)
        x[:, 0, 0, 0] = torch.tensor(labels, dtype=torch.float)
        return x

    real = lambda classes: labelled([0] * 50 + [2] * 50)                 # real: half 0s, half 2s
    ev = ImageEvaluator(Oracle((1, 8, 8), 10, channels=4, feature_dim=8), real, [0, 2])
    assert ev(labelled([0] * 20 + [2] * 20 + [7] * 10))["class_tv"] == pytest.approx(0.0)   # off-set samples ignored
    m = ev(labelled([0] * 30 + [2] * 10))
    assert m["class_tv"] == pytest.approx(0.25) and m["eval_accuracy"] == 1.0       # 3/4 vs 1/2


def test_image_grid():
    from rtb_lightning.plotting import image_grid

    g = image_grid(torch.zeros(10, 1, 8, 8), nrow=4)
    assert g.shape == (3 * 9 + 1, 4 * 9 + 1, 1) and g.min() >= 0 and g.max() <= 1
