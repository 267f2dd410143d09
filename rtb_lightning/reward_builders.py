"""Config -> reward objects: classifiers trained in-framework and cached (stage=classifier), the
classifier reward, a reward callable by import path, and the image evaluator.

Two classifiers per image domain: 'reward' (what log r uses) and 'eval' (a different seed and
architecture; the metrics' judge, never trained against).
"""
import torch

from .classifier_module import ClassifierModule, accuracy
from .domains.images import ImageDomain
from .errors import ConfigError
from .metrics.images import ImageEvaluator
from .networks.classifier import ConvClassifier
from .prior_cache import CLASSIFIER_NOISE_KEY, classifier_path, load_prior, save_prior
from .rewards import CallableReward, ClassifierReward, check_reward, load_target

ROLES = {  # role -> (architecture kwargs given the configured width, seed offset)
    "reward": (lambda ch: dict(channels=ch, depth=2, feature_dim=64), 0),
    "eval": (lambda ch: dict(channels=2 * ch, depth=3, feature_dim=128), 7919),
}


def classifier_network(cfg, domain, role):
    arch, _ = ROLES[role]
    return ConvClassifier(domain.event_shape, domain.num_classes, **arch(cfg.classifier.channels))


def train_classifier(cfg, domain, role, run_dir, devices=1):
    from .builders import build_domain, build_trainer

    _, offset = ROLES[role]
    torch.manual_seed(cfg.seed + offset)
    data = build_domain(cfg, "classifier")
    data.batch_size = cfg.classifier.batch_size
    net = classifier_network(cfg, domain, role)
    noise_max = cfg.classifier[CLASSIFIER_NOISE_KEY[role]]
    if noise_max < 0:
        raise ConfigError(f"classifier.{CLASSIFIER_NOISE_KEY[role]}={noise_max} is negative (a noise std)",
                          "use 0 (clean images only) or a positive std, e.g. 0.5")
    module = ClassifierModule(net, cfg.classifier.lr, cfg.classifier.steps, noise_max)
    trainer = build_trainer(cfg, run_dir, subdir=f"classifier_{role}/", max_steps=cfg.classifier.steps,
                            enable_checkpointing=False, devices=devices, num_nodes=1, strategy="auto")
    trainer.fit(module, datamodule=data)
    net = net.cpu()
    x, y = data.data
    held = data.split()[1]
    val = accuracy(net, x[held], y[held])
    print(f"[rtb] {role} classifier: held-out accuracy {val:.4f} ({len(held)} images)")
    if trainer.is_global_zero:
        save_prior(net, cfg, classifier_path(cfg, role), key=role, held_out_accuracy=val)
    return net


def build_classifier(cfg, domain, role, run_dir):
    path = classifier_path(cfg, role)
    if path.is_file():
        return load_prior(classifier_network(cfg, domain, role), path, what="classifier")
    print(f"[rtb] no cached {role} classifier at {path}: training it first ({cfg.classifier.steps} steps)")
    return train_classifier(cfg, domain, role, run_dir)


def train_classifiers(cfg, run_dir):
    """stage=classifier: (re)train both classifiers of an image domain and cache them."""
    from .builders import build_domain

    domain = build_domain(cfg, "classifier")
    if not isinstance(domain, ImageDomain):
        raise ConfigError(f"stage=classifier needs a labelled image domain; {cfg.domain.name} is not one",
                          "use domain=digits or domain=mnist")
    return {role: train_classifier(cfg, domain, role, run_dir) for role in ROLES}


def build_reward(cfg, domain, run_dir):
    """Attach the reward (and, for image domains, the evaluator) to the domain; probe it once."""
    image = isinstance(domain, ImageDomain)
    if getattr(domain, "owns_reward", False):      # domain=latent: a reward of f(z), attached by build_domain
        return
    if cfg.reward.target:
        reward = CallableReward(load_target(cfg.reward.target), cfg.reward.target)
    elif image:
        reward = ClassifierReward(build_classifier(cfg, domain, "reward", run_dir), domain.classes)
    else:
        reward = None                  # the domain's own log_reward
    if image:
        if reward is not None:
            domain.set_reward(reward)
        probe = domain.prior_data(4)
    elif reward is not None:
        domain.log_reward = reward     # instance attribute: overrides the class's reward
        probe = domain.prior_data(4) if _has_data(domain) else None
    else:
        return
    if probe is not None:              # before the evaluation classifier is trained: errors surface first
        cond = domain.sample_conditions(len(probe))
        check_reward(domain.log_reward, probe, cond, name=f"reward {cfg.reward.target or domain.name}")
    if image:
        domain.evaluator = ImageEvaluator(build_classifier(cfg, domain, "eval", run_dir), domain.real_images,
                                          domain.classes, domain.log_reward)


def _has_data(domain):
    try:
        domain.prior_data(1)
        return True
    except NotImplementedError:
        return False
