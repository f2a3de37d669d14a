"""Where a model or dataset named in the config comes from: a local directory, the HF cache, or the hub.

``locate`` decides before anything heavy is loaded, so an id that cannot be served fails at once
with one line ("… not found locally and the hub is unreachable; pass a local path") instead of
after minutes of network retries. The hub is probed with one short TCP connection.
"""

from __future__ import annotations

import os
import socket
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Literal
from urllib.parse import urlparse

from srd_core.errors import SRDError

PROBE_TIMEOUT_S = 3.0
TRUE_VALUES = {"1", "true", "yes", "on"}

RepoType = Literal["model", "dataset"]


class NotAvailableError(SRDError):
    """A model or dataset that is neither a local directory nor reachable on the hub."""


@dataclass(frozen=True)
class Location:
    """How to load ``name``: from a local directory, from the HF cache only, or from the hub."""

    name: str
    kind: Literal["local", "cache", "hub"]

    @property
    def local_files_only(self) -> bool:
        """Whether ``from_pretrained`` must not touch the network."""
        return self.kind != "hub"


def hub_offline() -> bool:
    """Whether the user switched the hub off (``HF_HUB_OFFLINE`` / ``TRANSFORMERS_OFFLINE``)."""
    return any(
        os.environ.get(var, "").strip().lower() in TRUE_VALUES for var in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE")
    )


def hub_endpoint() -> str:
    """The hub URL in use (``HF_ENDPOINT`` or huggingface.co)."""
    return os.environ.get("HF_ENDPOINT", "https://huggingface.co").rstrip("/")


@lru_cache(maxsize=4)
def _probe(endpoint: str, timeout: float) -> bool:
    url = urlparse(endpoint)
    port = url.port or (443 if url.scheme == "https" else 80)
    try:
        with socket.create_connection((url.hostname or "", port), timeout=timeout):
            return True
    except OSError:
        return False


def hub_reachable(timeout: float = PROBE_TIMEOUT_S) -> bool:
    """True if the hub accepts a TCP connection (never when offline mode is on); probed once per process."""
    return not hub_offline() and _probe(hub_endpoint(), timeout)


def looks_like_path(name: str) -> bool:
    """A name the user meant as a filesystem path rather than a hub id (``./x``, ``/x``, ``~/x``, ``a/b/c``)."""
    return name.startswith((".", "/", "~", "\\")) or name.count("/") > 1 or os.sep in name.replace("/", "")


def in_cache(name: str, filename: str, repo_type: RepoType = "model", revision: str | None = None) -> bool:
    """Whether the HF cache already holds ``filename`` of ``name``."""
    from huggingface_hub import try_to_load_from_cache  # deferred: huggingface_hub

    try:
        found = try_to_load_from_cache(name, filename, revision=revision, repo_type=repo_type)
    except Exception:  # an invalid repo id, an unreadable cache: not cached
        return False
    return isinstance(found, str)


def locate(
    name: str, field: str, repo_type: RepoType = "model", revision: str | None = None, probe_file: str = "config.json"
) -> Location:
    """Where ``name`` (config field ``field``) will be loaded from; raises ``NotAvailableError`` if nowhere.

    A local directory wins; a path-like name that is not a directory is an error; a hub id is used
    from the cache when ``probe_file`` is cached, from the hub when it is reachable.
    """
    path = Path(name).expanduser()
    if path.is_dir():
        return Location(str(path), "local")
    if path.exists():
        raise NotAvailableError(f"{field}: {name!r} is a file; expected a directory or a hub id")
    if looks_like_path(name):
        raise NotAvailableError(f"{field}: local directory {name!r} does not exist")
    if in_cache(name, probe_file, repo_type, revision):
        return Location(name, "cache")
    if hub_reachable():
        return Location(name, "hub")
    why = " (HF_HUB_OFFLINE is set)" if hub_offline() else ""
    raise NotAvailableError(
        f"{field}: {repo_type} {name!r} not found locally and the hub is unreachable; pass a local path{why}"
    )


def not_found_error(field: str, name: str, location: Location, repo_type: RepoType, exc: Exception | None) -> SRDError:
    """The one-line error for a load that failed after ``locate`` succeeded."""
    first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    if location.kind == "hub":
        return NotAvailableError(f"{field}: {repo_type} {name!r} could not be loaded from the hub: {first}")
    where = "directory" if location.kind == "local" else "cached copy of"
    return NotAvailableError(f"{field}: {where} {name!r} could not be loaded: {first}")
