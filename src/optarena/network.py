"""Is the network there? One quick answer before a download library retries for long.

Offline, torch.hub, timm and transformers retry a missing connection for tens of seconds
before they fail; weights loaders ask here first and fail at once with a clear error.
"""

import os
import socket
from urllib.parse import urlparse

PROBE_SECONDS = 5.0
_OFFLINE_VARS = ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE")


def offline_mode() -> bool:
    """The user said offline: HF_HUB_OFFLINE or TRANSFORMERS_OFFLINE (read now, not at import)."""
    from huggingface_hub import is_offline_mode

    flags = (os.environ.get(name, "").lower() for name in _OFFLINE_VARS)
    return is_offline_mode() or any(f in ("1", "true", "yes", "on") for f in flags)


def unreachable(url: str, timeout: float = PROBE_SECONDS) -> str | None:
    """None when a connection to `url`'s host opens within `timeout` s, else the reason."""
    parts = urlparse(url)
    port = parts.port or (443 if parts.scheme == "https" else 80)
    try:
        with socket.create_connection((parts.hostname, port), timeout=timeout):
            return None
    except OSError as err:
        return str(err)
