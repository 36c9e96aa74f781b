"""mallm-gan: synthetic tabular data for small datasets with a multi-agent LLM that plays a GAN.

Public API::

    from mallm_gan import MallmGan, TableSchema, DataGenerationProcess
    model = MallmGan(llm="openai:gpt-4o", random_state=0).fit(df, target="y", context="...")
    synthetic = model.sample(200)
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .errors import MallmGanError
from .table.schema import TableSchema

__version__ = "0.1.0"

if TYPE_CHECKING:
    from .synthesizer import MallmGan
    from .theta.process import DataGenerationProcess

_LAZY = {
    "MallmGan": ("synthesizer", "MallmGan"),
    "DataGenerationProcess": ("theta.process", "DataGenerationProcess"),
    "Conditions": ("table.conditions", "Conditions"),
    "evaluate": ("evaluation", "evaluate"),
}


def __getattr__(name: str) -> Any:
    # keep `import mallm_gan` light: the loop, sklearn and the evaluation load on first use
    if name in _LAZY:
        import importlib

        module, attr = _LAZY[name]
        return getattr(importlib.import_module(f"{__name__}.{module}"), attr)
    if name == "load":
        from .synthesizer import MallmGan

        return MallmGan.load
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = ["Conditions", "DataGenerationProcess", "MallmGan", "MallmGanError", "TableSchema", "evaluate", "load"]
