"""Where te-openmv keeps what it builds and downloads on the host."""
from __future__ import annotations

import os
from pathlib import Path


def host_cache_dir() -> Path:
    p = Path(os.environ.get("TE_OPENMV_CACHE", Path.home() / ".cache" / "te-openmv"))
    p.mkdir(parents=True, exist_ok=True)
    return p
