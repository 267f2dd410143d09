"""Small convolutional image classifiers: the reward classifier and the (separate) evaluation classifier.

`features(x)` is the penultimate layer, used by the image metrics (FID, diversity) as a frozen
feature network, so no Inception download is needed.
"""
from torch import nn

from .unet import _groups


class ConvClassifier(nn.Module):
    def __init__(self, event_shape, num_classes: int = 10, channels: int = 16, depth: int = 2,
                 feature_dim: int = 64):
        super().__init__()
        c, h, w = event_shape
        layers, prev = [], c
        for i in range(depth):
            width = channels * 2 ** i
            layers += [nn.Conv2d(prev, width, 3, padding=1), nn.GroupNorm(_groups(width), width), nn.SiLU()]
            if min(h, w) >= 4:            # halve while the map is at least 4x4
                layers.append(nn.AvgPool2d(2))
                h, w = h // 2, w // 2
            prev = width
        self.body = nn.Sequential(*layers, nn.Flatten(), nn.Linear(prev * h * w, feature_dim), nn.SiLU())
        self.head = nn.Linear(feature_dim, num_classes)
        self.event_shape, self.num_classes, self.num_features = tuple(event_shape), num_classes, feature_dim

    def features(self, x):
        return self.body(x)

    def forward(self, x):
        return self.head(self.body(x))


class FeatureNet(nn.Module):
    """A frozen classifier's penultimate features as a module (what torchmetrics' FID `feature=` takes)."""

    def __init__(self, classifier: ConvClassifier):
        super().__init__()
        self.classifier = classifier.eval().requires_grad_(False)
        self.num_features = classifier.num_features

    def forward(self, x):
        return self.classifier.features(x.to(next(self.classifier.parameters()).dtype))
