"""episode: a speaker-labelled interview transcript in, a verified podcast episode out.

The package is laid out by pipeline stage: parse -> speak -> assemble ->
master/encode -> tag -> verify -> publish; ``render`` runs the pipeline and
``cli`` is the `episode` command.
"""

__version__ = "0.1.0"
