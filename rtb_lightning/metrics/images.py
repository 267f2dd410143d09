"""Image metrics judged by a SEPARATE evaluation classifier (the reward classifier can be exploited).

- eval_accuracy: fraction of samples the evaluation classifier puts in the target class set
  (or, with conditions, in the conditioned class);
- fid: torchmetrics' FrechetInceptionDistance with the evaluation classifier's penultimate
  features as `feature=` (no Inception download), against real images of the target classes;
- diversity: mean pairwise cosine distance of the same features (1 - cosine similarity);
- diversity_in_class / fid_in_class: the same over only the samples the evaluation classifier puts in
  the class set: a few off-class samples add much spread and FID, so these separate the off-class tail
  from the shape of the in-class distribution;
- mean_log_r: the reward of the samples.
With conditions, the same metrics per class are added as `<metric>_c<k>`.
"""
import torch

from ..networks.classifier import FeatureNet


def diversity(features):
    """Mean pairwise cosine distance over distinct pairs."""
    f = torch.nn.functional.normalize(features.double(), dim=1)
    n = len(f)
    if n < 2:
        return float("nan")
    sim = f @ f.T
    return float(1 - (sim.sum() - sim.diagonal().sum()) / (n * (n - 1)))


def fid(feature_net, real, fake, batch=1000):
    from torchmetrics.image.fid import FrechetInceptionDistance

    metric = FrechetInceptionDistance(feature=feature_net, reset_real_features=True).to(fake.device)
    for imgs, is_real in ((real, True), (fake, False)):
        for i in range(0, len(imgs), batch):
            metric.update(imgs[i:i + batch], real=is_real)
    return float(metric.compute())


class ImageEvaluator:
    def __init__(self, eval_classifier, real_images_fn, classes, reward=None):
        self.classifier = eval_classifier.eval().requires_grad_(False)
        self.features = FeatureNet(self.classifier)
        self.real_images_fn, self.classes, self.reward = real_images_fn, list(classes), reward
        self._real = {}

    def real(self, classes):
        key = tuple(classes)
        if key not in self._real:
            self._real[key] = self.real_images_fn(key)
        return self._real[key].float()

    @torch.no_grad()
    def real_diversity(self, classes):
        """Diversity of the real images of the classes: the reference for the samples' diversity."""
        key = ("div", *classes)
        if key not in self._real:
            self._real[key] = diversity(self.features(self.real(classes).to(next(self.classifier.parameters()).device)))
        return self._real[key]

    @torch.no_grad()
    def _metrics(self, x, classes, cond=None):
        x = x.float()
        self.classifier.to(x.device)
        logits = self.classifier(x)
        pred = logits.argmax(1)
        hit = (pred == cond) if cond is not None else torch.isin(pred, torch.as_tensor(classes, device=x.device))
        feats = self.features(x)
        real = self.real(classes).to(x.device)
        out = {"eval_accuracy": hit.float().mean().item(), "fid": fid(self.features, real, x),
               "diversity": diversity(feats), "diversity_in_class": diversity(feats[hit]),
               "real_diversity": self.real_diversity(classes)}
        # a second FID pass only when some samples fall outside the class set (otherwise it is the same number)
        out["fid_in_class"] = (out["fid"] if hit.all() else
                               fid(self.features, real, x[hit]) if hit.sum() >= 2 else float("nan"))
        if cond is None and len(classes) > 1 and hit.any():
            out["class_tv"] = self.class_tv(pred[hit], classes)
        if self.reward is not None:
            out["mean_log_r"] = self.reward(x, cond).mean().item()
        return out

    def class_tv(self, pred, classes):
        """Total variation between the class proportions of the samples in the set (by the evaluation
        classifier) and those of the real images of the set (by the same classifier): FID against a
        set of classes also reads wrong proportions, this number isolates them."""
        key = ("frac", *classes)
        if key not in self._real:
            real = self.real(classes).to(pred.device)
            self._real[key] = self._fractions(torch.cat([self.classifier(real[i:i + 1000]).argmax(1)
                                                         for i in range(0, len(real), 1000)]), classes)
        return 0.5 * (self._fractions(pred, classes) - self._real[key].to(pred.device)).abs().sum().item()

    @staticmethod
    def _fractions(pred, classes):
        counts = torch.bincount(pred, minlength=max(classes) + 1)[list(classes)].float()
        return counts / counts.sum().clamp(min=1)

    @torch.no_grad()
    def __call__(self, x, cond=None):
        x = x.detach()
        if cond is None:
            return self._metrics(x, self.classes)
        cond = cond.detach().to(x.device).long()
        out = self._metrics(x, self.classes, cond)
        out.pop("fid")                     # a pooled FID over mixed classes hides per-class failures
        fids = []
        for c in sorted(set(cond.tolist())):
            m = cond == c
            if m.sum() < 2:
                continue
            per = self._metrics(x[m], [c], cond[m])
            fids.append(per["fid"])
            out.update({f"{k}_c{c}": v for k, v in per.items()})
        out["fid"] = sum(fids) / len(fids) if fids else float("nan")    # mean per-class FID
        return out
