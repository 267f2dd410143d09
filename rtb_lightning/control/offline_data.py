"""Offline RL transitions (D4RL / Minari key names), validated; read from a local HDF5 file.

Keys: observations (N, obs_dim), actions (N, act_dim), rewards (N,), next_observations (N, obs_dim),
and terminals (N,) and/or timeouts (N,). `terminals` mark true ends (no bootstrap); `timeouts`
(time-limit truncations) only end episodes, so a value target still bootstraps from them.
"""
from dataclasses import dataclass

import numpy as np
import torch

from ..errors import UserError
from ..optional import require

REQUIRED = ("observations", "actions", "rewards", "next_observations")


@dataclass
class OfflineData:
    observations: torch.Tensor
    actions: torch.Tensor
    rewards: torch.Tensor
    next_observations: torch.Tensor
    terminals: torch.Tensor
    timeouts: torch.Tensor

    def __len__(self):
        return len(self.observations)

    @property
    def obs_dim(self):
        return self.observations.shape[1]

    @property
    def act_dim(self):
        return self.actions.shape[1]


def from_arrays(arrays, where="the dataset"):
    """Validate a mapping of arrays and build OfflineData; one clear error per problem."""
    missing = [k for k in REQUIRED if k not in arrays]
    if not ("terminals" in arrays or "timeouts" in arrays):
        missing.append("terminals (or timeouts)")
    if missing:
        raise UserError(f"{where} lacks the key(s) {', '.join(missing)}",
                        "a D4RL-style file needs observations, actions, rewards, next_observations and terminals/timeouts")
    a = {k: np.asarray(arrays[k], dtype=np.float32) for k in (*REQUIRED, "terminals", "timeouts") if k in arrays}
    for k in ("rewards", "terminals", "timeouts"):
        if k in a:
            a[k] = a[k].reshape(len(a[k]), -1)[:, 0] if a[k].ndim == 2 and a[k].shape[1] == 1 else a[k]
    for k in ("observations", "actions", "next_observations"):
        if a[k].ndim == 1:
            a[k] = a[k][:, None]
    lengths = {k: len(v) for k, v in a.items()}
    if len(set(lengths.values())) != 1:
        raise UserError(f"{where} has arrays of different lengths: {lengths}",
                        "every key must have one row per transition")
    if lengths["observations"] == 0:
        raise UserError(f"{where} holds no transitions", "check the file")
    for k, v in a.items():
        if not np.isfinite(v).all():
            bad = int((~np.isfinite(v)).reshape(len(v), -1).any(1).sum())
            raise UserError(f"{where}: '{k}' has {bad} rows with NaN or inf values",
                            "clean the dataset (drop those transitions) before training")
    if a["next_observations"].shape[1:] != a["observations"].shape[1:]:
        raise UserError(f"{where}: next_observations have shape {a['next_observations'].shape[1:]}, "
                        f"observations {a['observations'].shape[1:]}", "they must match")
    t = lambda v: torch.as_tensor(v)
    flag = lambda k: t((a[k] > 0.5).astype(np.float32) if k in a else np.zeros(len(a["observations"]), np.float32))
    return OfflineData(t(a["observations"]), t(a["actions"]), t(a["rewards"]), t(a["next_observations"]),
                       flag("terminals"), flag("timeouts"))


def load_hdf5(path):
    h5py = require("h5py", "h5py", "reading an offline RL dataset (data.path)")
    from pathlib import Path

    if not Path(path).is_file():
        raise UserError(f"dataset file not found: {path}", "pass an existing D4RL-style .hdf5 file as data.path")
    try:
        with h5py.File(path, "r") as f:
            arrays = {k: f[k][()] for k in f.keys() if isinstance(f[k], h5py.Dataset)}
    except OSError as e:
        raise UserError(f"cannot read {path} as HDF5: {e}", "check that it is an HDF5 file") from None
    return from_arrays(arrays, where=str(path))
