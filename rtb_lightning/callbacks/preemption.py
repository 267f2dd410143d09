"""SIGTERM (cluster preemption, `scancel`, a job's time limit) saves a checkpoint and exits cleanly.

Lightning turns SIGTERM into an exception at the next step boundary, so the checkpoint holds a
consistent state (the step finished, nothing half-applied). All ranks reach this hook together.
"""
import lightning as L
from lightning.pytorch.utilities.exceptions import SIGTERMException


class PreemptionCheckpoint(L.Callback):
    def __init__(self, ckpt_dir):
        self.path = f"{ckpt_dir}/last.ckpt"

    def on_exception(self, trainer, module, exception):
        if isinstance(exception, SIGTERMException):
            trainer.save_checkpoint(self.path)
            if trainer.is_global_zero:
                print(f"[rtb] SIGTERM at step {trainer.global_step}: checkpoint saved to {self.path}; "
                      f"resume with the same arguments plus ckpt_path=last", flush=True)
