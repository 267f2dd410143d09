"""Import optional extras with a message that says what to install."""
import importlib

from .errors import UserError


def require(module: str, package: str, purpose: str):
    try:
        return importlib.import_module(module)
    except ImportError as e:
        raise UserError(f"{purpose} needs the optional package '{package}', which is not installed ({e})",
                        f"pip install {package}") from None
