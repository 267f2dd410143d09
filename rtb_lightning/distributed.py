"""Tiny torch.distributed helpers that are no-ops in a single process."""
import os
from contextlib import contextmanager

import torch.distributed as dist


def is_distributed() -> bool:
    return dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1


def gather_objects(obj) -> list:
    """[obj of rank 0, obj of rank 1, ...] on every rank (picklable objects; [obj] without DDP)."""
    if not is_distributed():
        return [obj]
    out = [None] * dist.get_world_size()
    dist.all_gather_object(out, obj)
    return out


# Processes started by an external launcher (torchrun, srun) before any process group exists.
_LAUNCHER_VARS = ("RANK", "WORLD_SIZE", "LOCAL_RANK", "LOCAL_WORLD_SIZE", "GROUP_RANK", "ROLE_RANK", "ROLE_WORLD_SIZE",
                  "MASTER_ADDR", "MASTER_PORT", "TORCHELASTIC_RUN_ID", "TORCHELASTIC_RESTART_COUNT",
                  "TORCHELASTIC_MAX_RESTARTS", "NODE_RANK")


def launched_by_torchrun() -> bool:
    return "TORCHELASTIC_RUN_ID" in os.environ and "LOCAL_WORLD_SIZE" in os.environ


def launcher_rank_and_world():
    """(global rank, world size) announced by torchrun or srun; (0, 1) for a plain `python train.py`."""
    if "RANK" in os.environ and "WORLD_SIZE" in os.environ:
        return int(os.environ["RANK"]), int(os.environ["WORLD_SIZE"])
    if int(os.environ.get("SLURM_NTASKS", 1)) > 1 and "SLURM_PROCID" in os.environ:
        return int(os.environ["SLURM_PROCID"]), int(os.environ["SLURM_NTASKS"])
    return 0, 1


@contextmanager
def single_process_env():
    """Hide the launcher's variables so that Lightning runs one plain process (e.g. rank 0 training the
    prior that all ranks then load), restoring them afterwards."""
    hidden = {k: os.environ.pop(k) for k in list(os.environ) if k in _LAUNCHER_VARS or k.startswith("SLURM_")}
    try:
        yield
    finally:
        os.environ.update(hidden)
