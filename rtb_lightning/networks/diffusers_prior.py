"""A diffusers UNet2DModel + DDPMScheduler checkpoint (a local directory) as the prior eps(x, t).

The directory is a saved pipeline (unet/ and scheduler/ subfolders) or a bare UNet2DModel with a
scheduler_config.json beside it. The scheduler must be the one our VP chain reproduces: epsilon
prediction, and the same beta schedule and number of training steps (checked, else a clear error).
"""
from pathlib import Path

import torch
from torch import nn

from ..errors import ConfigError
from ..noise_schedule import make_betas
from ..optional import require


class DiffusersPrior(nn.Module):
    def __init__(self, unet, num_train_steps: int):
        super().__init__()
        self.unet, self.num_train_steps = unet, num_train_steps

    def forward(self, x, t, cond=None):
        tau = (t * self.num_train_steps).round().long().clamp(0, self.num_train_steps - 1)
        labels = None if cond is None or getattr(self.unet.config, "num_class_embeds", None) is None else cond.long()
        return self.unet(x.to(self.unet.dtype), tau, class_labels=labels).sample.to(x.dtype)


def _sub(path: Path, name: str):
    return path / name if (path / name).is_dir() else path


def load_diffusers_prior(path, event_shape, process_cfg):
    diffusers = require("diffusers", "diffusers", "prior.pretrained_path (a diffusers checkpoint)")
    path = Path(path)
    if not path.is_dir():
        raise ConfigError(f"prior.pretrained_path={path} is not a directory",
                          "give a local folder saved with UNet2DModel.save_pretrained (and the scheduler's config)")
    try:
        unet = diffusers.UNet2DModel.from_pretrained(str(_sub(path, "unet")), local_files_only=True)
        sched = diffusers.DDPMScheduler.from_pretrained(str(_sub(path, "scheduler")), local_files_only=True)
    except (OSError, ValueError, EnvironmentError) as e:
        raise ConfigError(f"cannot load a UNet2DModel + DDPMScheduler from {path}: {str(e).splitlines()[0]}",
                          "the folder needs unet/ and scheduler/ (a saved DDPMPipeline), or both configs side by side") from None
    c, h, w = event_shape
    size = unet.config.sample_size
    size = (size, size) if isinstance(size, int) else tuple(size)
    if unet.config.in_channels != c or unet.config.out_channels != c or size != (h, w):
        raise ConfigError(f"the checkpoint's UNet takes {unet.config.in_channels}x{size[0]}x{size[1]} images, the domain "
                          f"has {c}x{h}x{w}", "use a domain (or domain.size) whose images fit the checkpoint")
    sc = sched.config
    if sc.prediction_type != "epsilon":
        raise ConfigError(f"the checkpoint predicts '{sc.prediction_type}', not epsilon", "use an epsilon-prediction DDPM")
    if sc.num_train_timesteps != process_cfg.num_train_steps:
        raise ConfigError(f"the checkpoint was trained with {sc.num_train_timesteps} steps, process.num_train_steps="
                          f"{process_cfg.num_train_steps}", f"set process.num_train_steps={sc.num_train_timesteps}")
    ours = make_betas(process_cfg.schedule, process_cfg.num_train_steps).float()
    if not torch.allclose(sched.betas.float(), ours, rtol=1e-3, atol=1e-6):
        raise ConfigError(f"the checkpoint's beta schedule ({sc.beta_schedule}, {sc.beta_start}..{sc.beta_end}) differs "
                          f"from process.schedule={process_cfg.schedule}",
                          "use the schedule it was trained with (linear 1e-4..0.02 or cosine)")
    return DiffusersPrior(unet.eval(), process_cfg.num_train_steps)
