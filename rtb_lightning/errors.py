"""User-facing errors: one line of cause plus a hint, printed without a traceback by train.py."""


class UserError(Exception):
    """A mistake in the user's input (config, data, reward), not a bug in the framework."""

    def __init__(self, message: str, hint: str = ""):
        self.message, self.hint = message, hint
        super().__init__(message + (f"\n  hint: {hint}" if hint else ""))


class ConfigError(UserError):
    pass


class RewardError(UserError):
    pass


def run_script(main):
    """Run a bench script's main(): a UserError ends it with its message and hint, without a traceback."""
    try:
        main()
    except UserError as e:
        raise SystemExit(f"error: {e}")
