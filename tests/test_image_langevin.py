"""The digits default posterior: residual correction + Langevin term s(t) * grad log r(x_t) of the classifier."""
from types import SimpleNamespace

import pytest
import torch

from rtb_lightning.builders import build_posterior, check_method
from rtb_lightning.config import load_config
from rtb_lightning.errors import ConfigError
from rtb_lightning.networks import EstimateGuidance, LangevinDrift, Residual, TimeUNet
from rtb_lightning.networks.classifier import ConvClassifier
from rtb_lightning.processes import PinnedBrownianProcess, VPProcess
from rtb_lightning.rewards import ClassifierReward


def _posterior(*extra):
    torch.manual_seed(0)
    clf = ConvClassifier((1, 8, 8), 10, channels=4, depth=2, feature_dim=8)
    domain = SimpleNamespace(num_classes=10, event_shape=(1, 8, 8), name="digits", log_reward=ClassifierReward(clf, [3]),
                             posterior_base=lambda prior: prior)
    prior = TimeUNet((1, 8, 8), channels=8, channel_mult=(1, 2), time_dim=16)
    process = VPProcess((1, 8, 8), num_steps=4, num_train_steps=100)
    cfg = load_config(["domain=digits", *extra])
    return build_posterior(cfg, prior, domain, process), prior, process, clf


def test_digits_default_adds_the_scaled_classifier_gradient_in_std_units():
    post, prior, process, clf = _posterior("sampler.langevin_clip=0.004")
    assert isinstance(post, Residual) and isinstance(post.correction, LangevinDrift)
    assert isinstance(post.guidance, EstimateGuidance)               # digits default: both terms (estimate's s = 0 here)
    x, t = torch.randn(6, 1, 8, 8), torch.rand(6)
    with torch.no_grad():
        assert torch.equal(post(x, t), prior(x, t))                  # zero-initialised: starts as the prior
        post.correction.scale[-1].bias.fill_(0.5)
    # the reward's gradient, independently: d/dx log softmax(clf(x))[:, 3]
    xg = x.clone().requires_grad_(True)
    g, = torch.autograd.grad(torch.log_softmax(clf(xg), 1)[:, 3].sum(), xg)
    assert g.abs().max() > 0.004                                     # the clip below is active
    lang = post.correction
    want = (lang.net(x, t) + 0.5 * g.clamp(-0.004, 0.004)) * process.unit_shift(t).view(-1, 1, 1, 1)
    with torch.no_grad():
        torch.testing.assert_close(post(x, t) - prior(x, t), want, rtol=1e-5, atol=1e-6)
    # the scale learns: the gradient reaches it through the image-shaped product
    post(x, t).square().sum().backward()
    assert lang.scale[-1].bias.grad.abs().sum() > 0
    assert not any(p.grad is not None for p in clf.parameters())


def test_langevin_off_gives_the_plain_residual():
    post, *_ = _posterior("sampler.langevin=false")
    assert isinstance(post, Residual) and not isinstance(post.correction, LangevinDrift)


@pytest.mark.parametrize("method", ["rl_kl", "ddpo"])
def test_on_policy_baselines_on_digits_use_the_plain_network(method):
    cfg = load_config(["domain=digits", f"method={method}"])
    assert cfg.sampler.langevin is False
    check_method(cfg)


@pytest.mark.parametrize("init", ["copy", "lora"])
def test_copy_and_lora_on_digits_name_the_langevin_switch(init):
    with pytest.raises(ConfigError, match="sampler.langevin=false"):
        check_method(load_config(["domain=digits", f"posterior.init={init}"]))
    check_method(load_config(["domain=digits", f"posterior.init={init}", "sampler.langevin=false"]))


@pytest.mark.parametrize("scale", [0.0, 2.5])
def test_denoised_guidance_at_a_constant_scale_is_dps(scale):
    from rtb_lightning.guidance import GuidedPrior

    post, prior, process, clf = _posterior("sampler.langevin_at=denoised", f"sampler.langevin_init={scale}")
    assert post.guidance is not None and not isinstance(post.correction, LangevinDrift)
    x, t = torch.randn(6, 1, 8, 8), torch.rand(6)
    dps = GuidedPrior(prior, post.guidance._log_reward[0], process.alpha_bar, scale, "dps")
    with torch.no_grad():
        torch.testing.assert_close(post(x, t), dps(x, t), rtol=1e-5, atol=1e-6)   # the correction net starts at 0
    # s(t) learns through the product; the frozen prior and the reward classifier get no gradient
    for p in (*prior.parameters(), *clf.parameters()):
        p.requires_grad_(False)
    post(x, t).square().sum().backward()
    assert post.guidance.scale[-1].bias.grad.abs().sum() > 0


def test_estimate_term_is_the_scaled_reward_gradient_at_the_priors_denoised_estimate():
    post, prior, process, clf = _posterior("sampler.langevin_at=estimate", "sampler.langevin_clip=0.004")
    assert isinstance(post.guidance, EstimateGuidance) and not isinstance(post.correction, LangevinDrift)
    x, t = torch.randn(6, 1, 8, 8), torch.rand(6)
    with torch.no_grad():
        assert torch.equal(post(x, t), prior(x, t))                  # s(t) starts at 0: the prior
        post.guidance.scale[-1].bias.fill_(0.5)
        eps = prior(x, t)
    # independently: x0_hat from the prior's eps, then d/dx0 log softmax(clf(x0))[:, 3], clipped, in std units
    abar = process.alpha_bar(t).view(-1, 1, 1, 1)
    x0 = ((x - (1 - abar).sqrt() * eps) / abar.sqrt()).requires_grad_(True)
    g, = torch.autograd.grad(torch.log_softmax(clf(x0), 1)[:, 3].sum(), x0)
    assert g.abs().max() > 0.004                                     # the clip below is active
    want = (post.correction(x, t) + 0.5 * g.clamp(-0.004, 0.004)) * process.unit_shift(t).view(-1, 1, 1, 1)
    with torch.no_grad():
        torch.testing.assert_close(post(x, t) - eps, want, rtol=1e-5, atol=1e-6)
        # the scorer hands over the prior output it recorded: same term as recomputing it
        torch.testing.assert_close(post.correction_term(x, t, None, eps), post.correction_term(x, t), rtol=0, atol=0)
    # s(t) learns; the prior and the classifier get no gradient (no backpropagation through the prior)
    post.correction_term(x, t).square().sum().backward()
    assert post.guidance.scale[-1].bias.grad.abs().sum() > 0
    assert not any(p.grad is not None for p in (*prior.parameters(), *clf.parameters()))


def test_both_adds_the_noisy_state_term_and_the_estimate_term_each_with_its_own_scale():
    post, prior, process, clf = _posterior("sampler.langevin_at=both")
    assert isinstance(post.correction, LangevinDrift) and isinstance(post.guidance, EstimateGuidance)
    x, t = torch.randn(6, 1, 8, 8), torch.rand(6)
    with torch.no_grad():
        assert torch.equal(post(x, t), prior(x, t))
        post.correction.scale[-1].bias.fill_(0.5)
        post.guidance.scale[-1].bias.fill_(-2.0)
        eps = prior(x, t)
        unit = process.unit_shift(t).view(-1, 1, 1, 1)
        est = post.guidance
        want = unit * (post.correction.net(x, t) + 0.5 * post.correction.score(x)
                       - 2.0 * est.gradient(est.estimate(x, t, eps)))
        torch.testing.assert_close(post(x, t) - eps, want, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("at", ["denoised", "estimate", "both"])
def test_denoised_guidance_needs_a_vp_process(at):
    cfg = load_config(["domain=gmm25", "method=tb", "sampler.langevin=true", f"sampler.langevin_at={at}"])
    with pytest.raises(ConfigError, match="process.kind=vp"):
        check_method(cfg)


def _module(post, prior, process, **kw):
    from rtb_lightning.module import RTBLightningModule
    from rtb_lightning.annealing import Schedule

    return RTBLightningModule(process, prior, post, lambda x, c=None: torch.zeros(len(x)), lr=0.005, log_z_lr=0.1,
                              lr_decay=Schedule(1.0, 0.1, 0, 10, "cosine"), **kw)


def _optimizer(post, prior, process, **kw):
    [opt], [sched] = _module(post, prior, process, **kw).configure_optimizers()
    return opt, sched


def test_langevin_lr_gives_both_scales_their_own_decayed_learning_rate():
    from rtb_lightning.networks.langevin import langevin_scale_parameters

    post, prior, process, _ = _posterior("sampler.langevin_at=both")
    scales = langevin_scale_parameters(post)
    want = {id(p) for p in (*post.correction.scale.parameters(), *post.guidance.scale.parameters())}
    assert {id(p) for p in scales} == want and len(scales) == len(want)
    opt, sched = _optimizer(post, prior, process, scale_lr=0.05)
    assert [g["lr"] for g in opt.param_groups] == [0.005, 0.1, 0.05]
    rest, _, sc = ({id(p) for p in g["params"]} for g in opt.param_groups)
    assert sc == want and not rest & sc
    assert rest | sc == {id(p) for p in post.parameters() if p.requires_grad}
    for _ in range(10):
        opt.step(), sched.step()
    torch.testing.assert_close([g["lr"] for g in opt.param_groups], [0.0005, 0.1, 0.005])   # decays with the posterior
    opt, _ = _optimizer(post, prior, process)                       # unset: the two groups checkpoints always had
    assert len(opt.param_groups) == 2


@pytest.mark.parametrize("extra,match", [
    (["sampler.langevin_lr=fast"], "langevin_lr='fast' has type str"), (["sampler.langevin_lr=-0.01"], "positive number"),
    (["sampler.langevin_lr=true"], "langevin_lr=True has type bool"), (["sampler.langevin_lr=0"], "positive number")])
def test_langevin_lr_errors_name_the_key(extra, match):
    with pytest.raises(ConfigError, match=match):
        check_method(load_config(["domain=digits", *extra]))


def test_langevin_lr_is_ignored_when_the_term_is_off():
    """digits.yaml sets langevin_lr; turning the term off (rl_kl, ddpo, a user) must not trip on it."""
    cfg = load_config(["domain=digits", "sampler.langevin=false"])
    assert cfg.sampler.langevin_lr == 0.02
    check_method(cfg)
    post, prior, process, _ = _posterior("sampler.langevin=false")
    opt, _ = _optimizer(post, prior, process, scale_lr=0.02)       # no scales: no third group
    assert [g["lr"] for g in opt.param_groups] == [0.005, 0.1]
    assert {id(p) for p in opt.param_groups[0]["params"]} == {id(p) for p in post.parameters() if p.requires_grad}


@pytest.mark.parametrize("process", [VPProcess((1, 8, 8), num_steps=4, num_train_steps=100),
                                     PinnedBrownianProcess((1, 8, 8), 4)])
def test_output_sign_is_the_direction_a_positive_output_moves_the_mean(process):
    x, v = torch.randn(5, 1, 8, 8), torch.rand(5, 1, 8, 8) + 0.1
    base = lambda x, t, c=None: torch.zeros_like(x)
    shifted = lambda x, t, c=None: v
    shift = process.transition(shifted, x, 1, None)[0] - process.transition(base, x, 1, None)[0]
    assert (process.output_sign * shift > 0).all()


def _randomise_scales(post):
    from rtb_lightning.networks.langevin import langevin_scale_parameters

    torch.manual_seed(1)
    with torch.no_grad():
        for p in langevin_scale_parameters(post):
            p.normal_(0, 1.0)


def _mean_shift(post, prior, process, x, idx=2):
    return process.transition(post, x, idx, None)[0] - process.transition(prior, x, idx, None)[0]


@pytest.mark.parametrize("sign", ["free", "follow"])
def test_a_following_scale_moves_every_pixel_up_the_rewards_gradient(sign):
    """langevin_sign=follow: each term's shift of the step's mean has the sign of its reward gradient in every
    entry, whatever the scale network's weights (free scales, with the same weights, flee in some entries)."""
    x = torch.randn(6, 1, 8, 8)
    for at in ("noisy", "estimate", "denoised"):
        post, prior, process, clf = _posterior(f"sampler.langevin_at={at}", f"sampler.langevin_sign={sign}")
        _randomise_scales(post)
        t = process._time(2, len(x))
        with torch.no_grad():
            shift = _mean_shift(post, prior, process, x)
            if at == "noisy":
                g = post.correction.score(x)
            elif at == "estimate":
                g = post.guidance.gradient(post.guidance.estimate(x, t, prior(x, t)))
        if at == "denoised":
            g = post.guidance.gradient(x, t)
        assert g.abs().sum() > 0 and shift.abs().sum() > 0
        agree = (shift * g).flatten()
        if sign == "follow":
            assert (agree >= -1e-9).all(), (at, agree.min())
        else:
            assert (agree < -1e-6).any(), at                        # the same weights, unconstrained, flee somewhere


def test_a_following_scale_starts_at_the_prior_and_learns():
    post, prior, process, _ = _posterior("sampler.langevin_at=both", "sampler.langevin_sign=follow")
    x, t = torch.randn(6, 1, 8, 8), torch.rand(6)
    for scale in (post.correction.scale, post.guidance.scale):
        s = scale(t)
        assert (s <= 0).all() and s.abs().max() <= 1e-3              # VP: follows with s < 0; starts ~ the prior
    post(x, t).square().sum().backward()
    assert post.correction.scale[-2].bias.grad.abs().sum() > 0      # |raw| is differentiable away from 0
    post, *_ = _posterior("sampler.langevin_at=noisy", "sampler.langevin_sign=follow", "sampler.langevin_init=0.5")
    torch.testing.assert_close(post.correction.scale(t), torch.full((6, 64), -0.5))   # init: the magnitude


@pytest.mark.parametrize("extra,match", [(["sampler.langevin_sign=up"], "free or follow"),
                                         (["sampler.langevin_sign=follow", "sampler.langevin_init=-1"], "non-negative")])
def test_langevin_sign_errors_name_the_key(extra, match):
    with pytest.raises(ConfigError, match=match):
        check_method(load_config(["domain=digits", *extra]))


def test_resuming_across_a_langevin_lr_change_names_the_key():
    from rtb_lightning.resume import check_compatible

    post, prior, process, _ = _posterior("sampler.langevin_at=both")
    opt, _ = _optimizer(post, prior, process)                        # trained with two groups
    module = _module(post, prior, process, scale_lr=0.02)            # resumed with digits' langevin_lr
    ckpt = {"state_dict": {k: v for k, v in module.state_dict().items() if not k.startswith("prior.")},
            "optimizer_states": [opt.state_dict()]}
    with pytest.raises(ConfigError, match="2 optimizer parameter groups, this config builds 3.*sampler.langevin_lr"):
        check_compatible(module, ckpt, "x.ckpt")
    ckpt["optimizer_states"] = [module.configure_optimizers()[0][0].state_dict()]
    check_compatible(module, ckpt, "x.ckpt")                          # its own optimizer fits
