"""IDX reading, the MNIST domain's folder checks, and diffusers checkpoints as priors."""
import gzip
from pathlib import Path

import numpy as np
import pytest
import torch

from rtb_lightning.errors import ConfigError, UserError
from rtb_lightning.idx import read_idx, write_idx

SHARED_MNIST = Path(__file__).resolve().parents[2] / "shared" / "data" / "mnist"


@pytest.mark.parametrize("suffix", [".gz", ""])
def test_idx_round_trip(tmp_path, suffix):
    rng = np.random.default_rng(0)
    imgs = rng.integers(0, 256, (7, 5, 4), dtype=np.uint8)
    labels = rng.integers(0, 10, (7,), dtype=np.uint8)
    write_idx(imgs, tmp_path / f"a-idx3-ubyte{suffix}")
    write_idx(labels, tmp_path / f"b-idx1-ubyte{suffix}")
    assert np.array_equal(read_idx(tmp_path / f"a-idx3-ubyte{suffix}").numpy(), imgs)
    assert np.array_equal(read_idx(tmp_path / f"b-idx1-ubyte{suffix}").numpy(), labels)


def test_idx_errors(tmp_path):
    (tmp_path / "bad").write_bytes(b"\x01\x02\x03\x04abcd")
    with pytest.raises(UserError, match="bad magic"):
        read_idx(tmp_path / "bad")
    write_idx(np.zeros((3, 2, 2), np.uint8), tmp_path / "t")
    (tmp_path / "trunc").write_bytes((tmp_path / "t").read_bytes()[:-2])
    with pytest.raises(UserError, match="truncated or corrupt"):
        read_idx(tmp_path / "trunc")
    (tmp_path / "notgz.gz").write_bytes(b"plain")
    with pytest.raises(UserError, match="cannot read IDX"):
        read_idx(tmp_path / "notgz.gz")


def _tiny_mnist(folder, n=20, size=28, labels=None, prefix="train"):
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(1)
    write_idx(rng.integers(0, 256, (n, size, size), dtype=np.uint8), folder / f"{prefix}-images-idx3-ubyte.gz")
    lab = np.arange(n, dtype=np.uint8) % 10 if labels is None else labels
    write_idx(lab, folder / f"{prefix}-labels-idx1-ubyte.gz")
    return folder


def test_mnist_domain_reads_a_folder(tmp_path):
    from rtb_lightning.domains import MNIST

    folder = _tiny_mnist(tmp_path / "m", prefix="t10k")
    d28 = MNIST(path=str(folder), size=28)
    x, y = d28.data
    assert x.shape == (20, 1, 28, 28) and x.min() >= -1 and x.max() <= 1 and y.tolist() == [i % 10 for i in range(20)]
    d14 = MNIST(path=str(folder), size=14)
    assert d14.event_shape == (1, 14, 14) and d14.data[0].shape == (20, 1, 14, 14)
    assert torch.allclose(d14.data[0][0, 0, 0, 0], x[0, 0, :2, :2].mean())
    assert d14.prior_data(5).shape == (5, 1, 14, 14)


def test_mnist_domain_errors(tmp_path):
    from rtb_lightning.builders import build_domain
    from rtb_lightning.config import load_config
    from rtb_lightning.domains import MNIST

    with pytest.raises(ConfigError, match="needs data.path"):
        build_domain(load_config(["domain=mnist"]), "posterior")
    with pytest.raises(ConfigError, match="is not a folder"):
        MNIST(path=str(tmp_path / "nope"))
    (tmp_path / "empty").mkdir()
    with pytest.raises(ConfigError, match="no MNIST IDX files"):
        MNIST(path=str(tmp_path / "empty"))
    with pytest.raises(ConfigError, match="domain.size"):
        MNIST(path=str(tmp_path / "empty"), size=20)
    small = _tiny_mnist(tmp_path / "small", size=20)
    with pytest.raises(ConfigError, match=r"expected \(N, 28, 28\)"):
        MNIST(path=str(small), size=28).data
    mism = _tiny_mnist(tmp_path / "mism", labels=np.zeros(5, np.uint8))
    with pytest.raises(ConfigError, match="labels for 20 images"):
        MNIST(path=str(mism)).data
    badlab = _tiny_mnist(tmp_path / "badlab", labels=np.full(20, 12, np.uint8))
    with pytest.raises(ConfigError, match="labels outside"):
        MNIST(path=str(badlab)).data
    cfg = load_config(["domain=mnist", f"data.path={_tiny_mnist(tmp_path / 'ok')}", "reward.classes=[11]"])
    with pytest.raises(ConfigError, match="reward.classes"):
        build_domain(cfg, "posterior")


@pytest.mark.skipif(not SHARED_MNIST.is_dir(), reason="../shared/data/mnist is absent")
def test_real_mnist_test_split():
    from rtb_lightning.domains import MNIST

    x, y = MNIST(path=str(SHARED_MNIST), size=28).data
    assert x.shape == (10000, 1, 28, 28) and torch.bincount(y).min() > 800


# ---- diffusers ----
def _save_tiny_diffusers(folder, size=8, channels=1, steps=1000, schedule="linear"):
    diffusers = pytest.importorskip("diffusers")
    torch.manual_seed(0)
    unet = diffusers.UNet2DModel(sample_size=size, in_channels=channels, out_channels=channels, layers_per_block=1,
                                 block_out_channels=(8, 16), down_block_types=("DownBlock2D", "DownBlock2D"),
                                 up_block_types=("UpBlock2D", "UpBlock2D"), norm_num_groups=4)
    sched = diffusers.DDPMScheduler(num_train_timesteps=steps, beta_schedule=schedule)
    unet.save_pretrained(folder / "unet")
    sched.save_pretrained(folder / "scheduler")
    return unet


def test_diffusers_checkpoint_as_prior(tmp_path):
    from rtb_lightning.builders import build_domain, build_posterior, build_prior, build_process
    from rtb_lightning.config import load_config

    unet = _save_tiny_diffusers(tmp_path / "ckpt")
    cfg = load_config(["domain=digits", f"prior.pretrained_path={tmp_path / 'ckpt'}", "process.num_steps=5",
                       "posterior.init=copy", f"cache_dir={tmp_path / 'cache'}"])
    dom = build_domain(cfg, "posterior")
    proc = build_process(cfg, dom)
    prior = build_prior(cfg, dom, proc, tmp_path)
    x, t = torch.randn(3, 1, 8, 8), torch.tensor([0.0, 0.5, 0.999])
    with torch.no_grad():
        want = unet(x, torch.tensor([0, 500, 999])).sample
        assert torch.allclose(prior(x, t), want, atol=1e-5)
        states, lp = proc.sample(prior, 4)
    assert states.shape == (4, 6, 1, 8, 8) and torch.isfinite(lp).all()
    post = build_posterior(cfg, prior, dom, proc)
    assert any(p.requires_grad for p in post.parameters())
    assert not (tmp_path / "cache").exists()               # nothing trained


def test_diffusers_checkpoint_mismatches_are_config_errors(tmp_path):
    from rtb_lightning.networks.diffusers_prior import load_diffusers_prior
    from rtb_lightning.config import load_config

    _save_tiny_diffusers(tmp_path / "c16", size=16)
    _save_tiny_diffusers(tmp_path / "c500", steps=500)
    _save_tiny_diffusers(tmp_path / "cos", schedule="squaredcos_cap_v2")
    proc = load_config([]).process
    with pytest.raises(ConfigError, match="takes 1x16x16 images"):
        load_diffusers_prior(tmp_path / "c16", (1, 8, 8), proc)
    with pytest.raises(ConfigError, match="trained with 500 steps"):
        load_diffusers_prior(tmp_path / "c500", (1, 8, 8), proc)
    with pytest.raises(ConfigError, match="beta schedule"):
        load_diffusers_prior(tmp_path / "cos", (1, 8, 8), proc)
    load_diffusers_prior(tmp_path / "cos", (1, 8, 8), load_config(["process.schedule=cosine"]).process)
    with pytest.raises(ConfigError, match="not a directory"):
        load_diffusers_prior(tmp_path / "none", (1, 8, 8), proc)
    (tmp_path / "empty").mkdir()
    with pytest.raises(ConfigError, match="cannot load"):
        load_diffusers_prior(tmp_path / "empty", (1, 8, 8), proc)


def test_mnist_config_is_the_digits_recipe():
    """mnist.yaml promises the digits posterior recipe; the two files must not drift apart."""
    from omegaconf import OmegaConf

    from rtb_lightning.config import load_config

    digits, mnist = load_config(["domain=digits"]), load_config(["domain=mnist"])
    for key in ("beta", "posterior", "sampling", "buffer", "trainer.max_steps", "reward.log_r_min",
                "classifier.noise_max", "classifier.eval_noise_max"):
        assert OmegaConf.select(digits, key) == OmegaConf.select(mnist, key), key
    # one measured exception: the scales' own learning rate (0.02 cost MNIST its accuracy; docs/vision.md)
    assert {**digits.sampler, "langevin_lr": None} == {**mnist.sampler, "langevin_lr": None}
    assert digits.sampler.langevin_lr == 0.02 and mnist.sampler.langevin_lr is None
