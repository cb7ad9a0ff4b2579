"""Base class of every config section and the path type resolved against the file.

Input paths (data to read) are relative to the config file's directory, so a
config and its data move together; output paths (work directories) are plain
``Path`` values, relative to the directory the job is started in.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

from pydantic import BaseModel, ConfigDict, ValidationInfo
from pydantic.functional_validators import AfterValidator


class Section(BaseModel):
    """A config section: unknown keys are errors, values are frozen after loading.

    Floats must be finite (``nan`` and ``inf`` are errors: an infinite
    ``kinetic.t_end`` would run forever).
    """

    model_config = ConfigDict(extra="forbid", frozen=True, validate_default=True,
                              allow_inf_nan=False)


def _resolve(path: Path, info: ValidationInfo) -> Path:
    """Make a relative path relative to the directory of the config file."""
    base = (info.context or {}).get("base_dir")
    path = path.expanduser()
    return path if path.is_absolute() or base is None else Path(base) / path


#: An input path; relative values are taken relative to the config file's directory.
InputPath = Annotated[Path, AfterValidator(_resolve)]
