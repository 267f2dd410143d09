from .evaluation import EvaluationCallback

__all__ = ["EvaluationCallback"]
