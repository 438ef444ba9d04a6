"""What every ``tasklogs`` command shares: config arguments, logging, the version."""

from __future__ import annotations

import argparse
import logging
import sys
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

__all__ = ["DEFAULT_API", "config_args", "setup_logging", "tasklogs_version"]

DEFAULT_API = "http://127.0.0.1:8080"


def tasklogs_version() -> str:
    try:
        return version("tasklogs")
    except PackageNotFoundError:
        return "unknown"


def config_args(p: argparse.ArgumentParser, suffix: str = "") -> None:
    p.add_argument("-c", "--config", type=Path, help=f"YAML config file{suffix}")
    p.add_argument(
        "--data-dir",
        type=Path,
        help=f"data directory (env TASKLOGS_DATA_DIR; default ~/.local/share/tasklogs){suffix}",
    )


def setup_logging(verbose: bool) -> None:
    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
