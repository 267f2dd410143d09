"""Counts training steps skipped because the loss or a gradient was not finite, and stops a run
that keeps producing them (it would otherwise spin without learning)."""
from .errors import UserError


class NonFiniteTrainingError(UserError):
    pass


class NonFiniteSteps:
    def __init__(self, max_consecutive: int = 20):
        self.max_consecutive = max_consecutive
        self.total = self.consecutive = 0

    def record(self, finite: bool, step: int, loss_finite: bool, details: str = ""):
        if finite:
            self.consecutive = 0
            return
        self.total += 1
        self.consecutive += 1
        if self.max_consecutive and self.consecutive >= self.max_consecutive:
            where = "a non-finite loss" if not loss_finite else "non-finite gradients (the loss was finite)"
            raise NonFiniteTrainingError(
                f"{self.consecutive} consecutive training batches at optimizer step {step} had {where}; "
                f"nothing was applied ({self.total} skipped in all){details}",
                "likely causes: a learning rate too high (posterior.lr, posterior.log_z_lr), unbounded log r "
                "(raise reward.log_r_min), log-ratios exploding at low-noise steps (process.min_std); "
                "try posterior.grad_clip=1.0 or method.loss_clip; faults.max_consecutive_nonfinite sets the limit")

    def state_dict(self):
        return {"total": self.total, "consecutive": self.consecutive}

    def load_state_dict(self, state):
        self.total, self.consecutive = state["total"], state["consecutive"]
