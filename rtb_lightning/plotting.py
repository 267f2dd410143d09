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


def image_grid(x, nrow: int = 8):
    """(N, C, H, W) in [-1, 1] -> one (H', W', C) array in [0, 1], images tiled row-major."""
    x = ((x.float().clamp(-1, 1) + 1) / 2)[: nrow * nrow]
    n, c, h, w = x.shape
    rows = -(-n // nrow)
    grid = torch.ones(c, rows * (h + 1) + 1, nrow * (w + 1) + 1)
    for i in range(n):
        r, k = divmod(i, nrow)
        grid[:, 1 + r * (h + 1): 1 + r * (h + 1) + h, 1 + k * (w + 1): 1 + k * (w + 1) + w] = x[i]
    return grid.permute(1, 2, 0).numpy()


def image_grid_figure(prior_x, post_x, path=None, nrow: int = 8):
    fig, axes = plt.subplots(1, 2, figsize=(8, 4.3))
    for ax, title, x in ((axes[0], "prior samples", prior_x), (axes[1], "posterior samples", post_x)):
        g = image_grid(x, nrow)
        ax.imshow(g[..., 0] if g.shape[-1] == 1 else g, cmap="gray" if g.shape[-1] == 1 else None, vmin=0, vmax=1)
        ax.set_title(title)
        ax.axis("off")
    fig.tight_layout()
    if path is not None:
        fig.savefig(path, dpi=100)
    return fig
