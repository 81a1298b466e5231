"""The lowest layer: argument records, validation, coordinates, float32 rules, portable
math, the counter-based RNG, errors, configuration and environment parsing.

Nothing here imports from the layers above (``_reference``, ``_dispatch``, ``_backends``,
``_frameworks``); see docs/architecture.md.
"""
