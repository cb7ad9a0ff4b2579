"""Rank-aware logging: rank 0 logs at INFO, the others at WARNING.

Every record carries ``rank/size``.  Per-rank log files are optional.  Library
code uses ``logging.getLogger(__name__)`` and never prints.
"""

from __future__ import annotations

import logging
import sys
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from hpcml.parallel.context import Context

FORMAT = "%(asctime)s [%(rank)s/%(size)s] %(levelname)s %(name)s: %(message)s"
DATEFMT = "%H:%M:%S"


class _RankFilter(logging.Filter):
    """Stamp ``rank`` and ``size`` onto every record."""

    def __init__(self, rank: int, size: int) -> None:
        super().__init__()
        self.rank, self.size = rank, size

    def filter(self, record: logging.LogRecord) -> bool:
        record.rank, record.size = self.rank, self.size
        return True


def setup_logging(
    ctx: Context,
    level: str | int = "INFO",
    nonroot_level: str | int = "WARNING",
    logdir: str | Path | None = None,
    stream: object = None,
) -> logging.Logger:
    """Configure the ``hpcml`` logger for this process.

    Parameters
    ----------
    ctx
        Context giving rank and size.
    level
        Level on rank 0.
    nonroot_level
        Level on the other ranks.
    logdir
        If given, every rank also writes ``logdir/hpcml_p<rank>.log`` at ``level``.
    stream
        Stream for console records (default ``sys.stderr``).

    Returns
    -------
    logging.Logger
        The configured ``hpcml`` logger.
    """
    logger = logging.getLogger("hpcml")
    for handler in list(logger.handlers):
        logger.removeHandler(handler)
        handler.close()
    rank_filter = _RankFilter(ctx.rank, ctx.size)
    formatter = logging.Formatter(FORMAT, DATEFMT)
    console = logging.StreamHandler(stream or sys.stderr)
    console.setLevel(level if ctx.is_root else nonroot_level)
    handlers: list[logging.Handler] = [console]
    if logdir is not None:
        Path(logdir).mkdir(parents=True, exist_ok=True)
        handlers.append(logging.FileHandler(Path(logdir) / f"hpcml_p{ctx.rank}.log"))
        handlers[-1].setLevel(level)
    for handler in handlers:
        handler.addFilter(rank_filter)
        handler.setFormatter(formatter)
        logger.addHandler(handler)
    logger.setLevel(min(logging.getLevelName(lv) if isinstance(lv, str) else lv
                        for lv in (level, nonroot_level)))
    logger.propagate = False
    return logger
