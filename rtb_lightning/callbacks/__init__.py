from .evaluation import EvaluationCallback
from .preemption import PreemptionCheckpoint

__all__ = ["EvaluationCallback", "PreemptionCheckpoint"]
