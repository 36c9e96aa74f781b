"""The synthesizer stage: :class:`MallmGan`, the facade that fits θ and samples from it, and its helpers.

- :mod:`.model`: ``MallmGan`` itself; it builds the settings, data and clients, runs the loop or the
  sampler, assigns its fitted attributes and writes the run files under the run directory's lock.
- :mod:`.inputs`: what a fit starts from (schema with its rules, normalised training rows, starting θ,
  the prompt-size check).
- :mod:`.resume`: the checkpoint document and whether a new ``fit`` may resume it.
- :mod:`.runlock`: one fitting process per run directory.

The facade imports its helpers; the helpers never import the facade or each other.
"""

from __future__ import annotations

from .model import MallmGan

__all__ = ["MallmGan"]
