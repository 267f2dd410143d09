"""Figures (matplotlib, headless)."""
import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import torch  # noqa: E402


def toy2d_figure(domain, prior_y, post_y, path=None, lim=14.0):
    g = torch.linspace(-lim, lim, 200)
    xx, yy = torch.meshgrid(g, g, indexing="xy")
    grid = torch.stack([xx.reshape(-1), yy.reshape(-1)], 1)
    fig, axes = plt.subplots(1, 3, figsize=(13.5, 4.5))
    panels = [("prior p(x): 25-GMM", domain.prior_gmm, prior_y, "tab:blue"),
              ("posterior samples vs target 9-GMM", domain.target_gmm, post_y, "tab:red"),
              ("target p(x) r(x) (exact)", domain.target_gmm, domain.reference_samples(len(post_y)), "tab:green")]
    for ax, (title, gmm, pts, colour) in zip(axes, panels):
        dens = gmm.log_prob(grid).reshape(200, 200)
        ax.contour(xx, yy, dens.clamp(min=-30), levels=20, cmap="Greys", linewidths=0.5)
        ax.scatter(pts[:, 0], pts[:, 1], s=2, alpha=0.5, color=colour)
        ax.set(xlim=(-lim, lim), ylim=(-lim, lim), title=title, aspect="equal")
    fig.tight_layout()
    if path is not None:
        fig.savefig(path, dpi=90)
    return fig
