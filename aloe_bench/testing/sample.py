"""The ``sample`` persona source: eight personas written for this project, shipped with aloe-bench.

They let a plugin author run the whole pipeline without the official ALOE files
(``aloe-bench evaluate --personas sample ...``). Their ids (``sample-01`` .. ``sample-08``) and
texts never change within a major version; the file is ``sample_personas.jsonl`` beside this
module, in the format of the ``jsonl:`` source.
"""

from __future__ import annotations

from importlib.resources import as_file, files
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from aloe_bench.records import Persona

#: The package-data file that holds the sample personas.
SAMPLE_FILE = "sample_personas.jsonl"


def sample_personas() -> list[Persona]:
    """The sample personas, in their stable order, with source ``sample``."""
    from aloe_bench.personas.jsonl import read_persona_file

    with as_file(files("aloe_bench.testing").joinpath(SAMPLE_FILE)) as path:
        return read_persona_file(path, source="sample")
