"""User-facing errors: each renders as one clear line and exits with code 2."""

from __future__ import annotations


class SRDError(Exception):
    """An error caused by the user's input (config, data, paths): one line, exit code 2."""

    exit_code = 2


class ConfigError(SRDError):
    """The YAML config or a ``--set`` override is invalid."""


class DataError(SRDError):
    """A data file or sample is invalid."""


class PluginError(SRDError):
    """A plugin or component could not be found, loaded or validated."""


class UnknownComponentError(PluginError):
    """A component name that no installed plugin registers."""


class DuplicateComponentError(PluginError):
    """Two distributions register the same component name for one kind."""


class TrainingError(SRDError):
    """Training cannot go on (non-finite loss, missing artifact, ...)."""


class Interrupted(Exception):
    """A command stopped by SIGINT or SIGTERM: one line saying where and how to resume, exit 128 + signal."""

    def __init__(self, message: str, signum: int) -> None:
        super().__init__(message)
        self.signum = signum
        self.exit_code = 128 + signum


class Terminated(BaseException):
    """Raised by the CLI's SIGTERM handler; a ``BaseException`` so that ``except Exception`` does not eat it."""
