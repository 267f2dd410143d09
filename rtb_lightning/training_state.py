"""What a posterior checkpoint holds beyond Lightning's own state, and how it comes back.

The frozen prior is rebuilt from its own source (cache, analytic form), never re-saved. Per-rank
state (replay buffer, RNG streams) is gathered from every rank, so a resumed DDP run continues each
rank's stream; non-finite parameters are refused so a bad step can never overwrite a good file.
"""
import torch

from . import rng_state
from .distributed import gather_objects
from .errors import UserError


def pack(module, checkpoint):
    """Lightning's on_save_checkpoint (collective: every rank runs it when a checkpoint is saved)."""
    bad = [k for k, v in checkpoint["state_dict"].items() if v.is_floating_point() and not torch.isfinite(v).all()]
    if bad:   # steps with non-finite gradients are never applied, so this is a bug: refuse to write it
        raise UserError(f"refusing to save a checkpoint with non-finite parameters: {', '.join(bad[:5])}",
                        "the previous checkpoint is intact; resume from it with ckpt_path=last")
    checkpoint["state_dict"] = {k: v for k, v in checkpoint["state_dict"].items() if not k.startswith("prior.")}
    per_rank = gather_objects({"buffer": module.buffer.state_dict(), "rng": rng_state.capture()})
    checkpoint["replay_buffer"] = [r["buffer"] for r in per_rank]
    checkpoint["rng_states"] = [r["rng"] for r in per_rank]
    checkpoint["nonfinite_steps"] = module.nonfinite_steps.state_dict()
    if module.local_search is not None:
        checkpoint["local_search"] = module.local_search.state_dict()


def unpack(module, checkpoint):
    """Lightning's on_load_checkpoint. Returns this rank's RNG state to restore at the next training
    batch (Lightning draws random numbers while it sets up the loop), or None."""
    checkpoint["state_dict"].update({f"prior.{k}": v for k, v in module.prior.state_dict().items()})
    attached = module._trainer is not None
    rank = module.global_rank if attached else 0
    buffers = checkpoint.get("replay_buffer")
    if isinstance(buffers, dict):            # single-process checkpoints of earlier versions
        buffers = [buffers]
    if buffers:
        module.buffer.load_state_dict(buffers[rank % len(buffers)])
    if "nonfinite_steps" in checkpoint:
        module.nonfinite_steps.load_state_dict(checkpoint["nonfinite_steps"])
    if module.local_search is not None and "local_search" in checkpoint:
        module.local_search.load_state_dict(checkpoint["local_search"])
    rngs = checkpoint.get("rng_states") or []
    # A different world size cannot replay the old streams: ranks then keep their fresh seeds.
    return rngs[rank] if attached and len(rngs) == module.trainer.world_size else None
