"""Strict, typed configuration: one schema module per section.

>>> from hpcml.config import load_config, parse_config
>>> parse_config({"parallel": {"threads_per_rank": 2}}).parallel.threads_per_rank
2
"""

from hpcml.config.load import load_config, parse_config
from hpcml.config.model import HpcmlConfig
from hpcml.config.schema import json_schema, markdown_reference

__all__ = ["HpcmlConfig", "json_schema", "load_config", "markdown_reference", "parse_config"]
