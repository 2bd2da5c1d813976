"""Errors raised by the training package: each says what was expected and where it looked."""


class TrainingError(Exception):
    """Base class: a user-facing failure of a training command (printed without a traceback)."""


class DatasetNotFound(TrainingError):
    pass


class DatasetInvalid(TrainingError):
    pass


class ConfigError(TrainingError):
    pass
