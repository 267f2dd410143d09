"""Generator domains: a labelled image domain's data, modelled by an embedded generator (stage=generator).

`domain=digits_vae` / `domain=digits_flow` are the digits with a generator kind and architecture;
`python train.py stage=generator domain=digits_vae` trains it and caches it, and
`domain=latent generator=digits_vae` samples posteriors in its noise space, scored by the
classifiers of the data domain (`data_domain`). No other stage runs on a generator domain.
"""
from ..errors import ConfigError
from ..generators import GENERATOR_KINDS
from .digits import Digits


class DigitsGenerator(Digits):
    data_domain = "digits"
    is_generator = True

    def __init__(self, batch_size=128, stage="generator", kind="vae", latent_dim=8, hidden=256, layers=2,
                 classes=None, conditional=False):
        if kind not in GENERATOR_KINDS:
            raise ConfigError(f"domain.kind={kind!r} is not a generator kind", f"choose one of: {', '.join(GENERATOR_KINDS)}")
        super().__init__(batch_size, stage, classes, conditional)
        self.kind, self.latent_dim, self.hidden, self.layers = kind, latent_dim, hidden, layers

    def build_generator(self):
        try:
            return GENERATOR_KINDS[self.kind](self.event_shape, self.latent_dim, self.hidden, self.layers)
        except ValueError as e:
            raise ConfigError(str(e), "set domain.latent_dim=null for a flow") from None
