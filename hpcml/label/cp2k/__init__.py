"""CP2K labeling: program discovery, input generation, output parsing.

The input writer (:mod:`.input`) and the output parser (:mod:`.parse`) are
pure (text in, arrays out); only :mod:`hpcml.label.runner` starts CP2K.
"""

from hpcml.label.cp2k.input import CP2KTemplate, render_input
from hpcml.label.cp2k.parse import CP2KResult, parse_output
from hpcml.label.cp2k.program import CP2KProgram, find_cp2k

__all__ = ["CP2KProgram", "CP2KResult", "CP2KTemplate", "find_cp2k", "parse_output",
           "render_input"]
