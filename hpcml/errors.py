"""Exception types shared by all of hpcml.

:class:`UserError` and its subclasses describe bad input (a config key, a data
file, a missing program).  The CLI reports them as one clear message naming
the file, the key and the fix, without a Python traceback, and exits with
status 2.
"""

from __future__ import annotations


class UserError(Exception):
    """Bad input from the user: reported as its message alone."""


class ConfigError(UserError):
    """An invalid configuration file or value."""


class DataError(UserError):
    """A data file that is missing, malformed or inconsistent."""


class NotBuiltError(UserError):
    """A capability of hpcml that does not exist yet."""
