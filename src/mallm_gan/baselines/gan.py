"""CTGAN and TVAE baselines through the standalone ``ctgan`` package (MIT), not SDV.

They need the ``[gan]`` extra (``torch==2.13.0`` and ``ctgan``). ``ctgan`` depends on ``rdt``, which pins
pandas < 3, so the extra lives in an environment of its own; the main environment (pandas 3) does not
import it until a CTGAN or TVAE baseline is fitted.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pandas as pd

from ..errors import ConfigError
from .base import BaseSynthesizer, MissingExtraError

GAN_HINT = (
    "CTGAN and TVAE need the [gan] extra: pip install 'mallm-gan[gan]' (torch==2.13.0 + ctgan). "
    "ctgan pulls rdt, which requires pandas < 3, so install it in a separate environment"
)


def _import_ctgan() -> Any:
    try:
        import ctgan
    except ImportError as exc:
        raise MissingExtraError(GAN_HINT) from exc
    return ctgan


class _CtganFamily(BaseSynthesizer):
    _class_name = ""

    def __init__(
        self,
        epochs: int = 300,
        batch_size: int = 500,
        random_state: int | None = None,
        verbose: bool = False,
        threads: int | None = None,
    ) -> None:
        super().__init__(random_state=random_state)
        self.epochs = epochs
        self.batch_size = batch_size
        self.verbose = verbose
        self.threads = threads

    def _make(self, module: Any) -> Any:
        raise NotImplementedError

    def _fit(self, plain: pd.DataFrame) -> None:
        if self.epochs < 1:
            raise ConfigError(f"epochs must be >= 1, got {self.epochs}")
        if self.threads is not None and self.threads < 1:
            raise ConfigError(f"threads must be >= 1, got {self.threads}")
        module = _import_ctgan()
        self.model_ = self._make(module)
        if self.random_state is not None:
            self.model_.set_random_state(int(self.random_state))
        discrete = [c for c in plain.columns if c in self.codec_.categorical]
        # object columns: ctgan's transformers predate pandas' string dtype
        frame = plain.astype({c: object for c in discrete})
        with _torch_threads(self.threads):
            self.model_.fit(frame, discrete_columns=discrete)

    def _sample(self, n: int) -> pd.DataFrame:
        with _torch_threads(self.threads):
            return pd.DataFrame(self.model_.sample(n))


@contextmanager
def _torch_threads(threads: int | None) -> Iterator[None]:
    """Run with ``threads`` torch threads, restoring the previous count afterwards.

    These networks are small: on a busy 2-core machine one thread was 12x faster per CTGAN epoch than two
    (0.22 s vs 2.7 s on adult, N=100), because OpenMP threads spin while waiting for a core.
    """
    if threads is None:
        yield
        return
    import torch

    previous = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        yield
    finally:
        torch.set_num_threads(previous)


class CTGANBaseline(_CtganFamily):
    """Conditional tabular GAN (Xu et al. 2019).

    Args:
        epochs: Training epochs (ctgan's default, 300).
        batch_size: Rows per step; must be a multiple of 10 (ctgan's ``pac``).
        random_state: Seed of numpy and torch inside ctgan.
        verbose: Let ctgan print its losses.
        threads: Torch threads while fitting and sampling (None: leave torch's setting).
    """

    name = "ctgan"

    def _make(self, module: Any) -> Any:
        if self.batch_size % 10:
            raise ConfigError(f"CTGAN's batch_size must be a multiple of 10 (pac), got {self.batch_size}")
        return module.CTGAN(epochs=self.epochs, batch_size=self.batch_size, verbose=self.verbose, enable_gpu=False)


class TVAEBaseline(_CtganFamily):
    """Tabular variational autoencoder (Xu et al. 2019).

    Args:
        epochs: Training epochs (ctgan's default, 300).
        batch_size: Rows per step.
        random_state: Seed of numpy and torch inside ctgan.
        verbose: Let ctgan print its losses.
        threads: Torch threads while fitting and sampling (None: leave torch's setting).
    """

    name = "tvae"

    def _make(self, module: Any) -> Any:
        return module.TVAE(epochs=self.epochs, batch_size=self.batch_size, verbose=self.verbose, enable_gpu=False)


__all__ = ["GAN_HINT", "CTGANBaseline", "TVAEBaseline"]
