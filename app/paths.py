"""Where things live on the user's machine."""

from __future__ import annotations

import os
from pathlib import Path

from platformdirs import user_data_dir

APP_NAME = "Sampletree"


def default_library_path() -> Path:
    """``$SAMPLETREE_LIBRARY``, else ``library.sqlite`` in the platform's user data folder."""
    env = os.environ.get("SAMPLETREE_LIBRARY")
    if env:
        return Path(env).expanduser()
    return Path(user_data_dir(APP_NAME, appauthor=False)) / "library.sqlite"


def demo_copy_parent() -> Path:
    """Where the demo library's working copy goes (``core.demo.copy_demo``): the user data
    folder, beside the default library."""
    return Path(user_data_dir(APP_NAME, appauthor=False))
