"""The hyper-parameters of :class:`~mallm_gan.MallmGan` as one frozen, validated object.

``MallmGan.__init__`` stores the parameters as given (scikit-learn style); ``fit`` turns them into a
:class:`Settings`, which checks all of them at once and names every problem in one :class:`ConfigError`.
The same object says which parameters a saved run depends on (:meth:`Settings.identity`), and the loop and
the sampler read their parameters from it. The rules across columns (``constraints``) are checked here for
their form; they are read and bound to the table's columns when ``fit`` has the schema. A new parameter
is one field here plus its keyword in ``MallmGan.__init__`` (a test holds the two equal).
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import Any

from .errors import ConfigError
from .llm.base import concurrency_problem
from .table.constraint_syntax import rule_texts

DISCRIMINATORS: tuple[str, ...] = ("logistic", "xgboost")
COPY_POLICIES: tuple[str, ...] = ("k", "never", "allow")
SELECTIONS: tuple[str, ...] = ("significant", "lowest")
#: Answer forms of the optimizer: the whole causal structure (the paper's), or edits of the best version's.
OPTIMIZER_FORMS: tuple[str, ...] = ("dag", "edits")

# parameters that change what a run computes: a run directory made with other values cannot be resumed.
# The LLM specs are added by Settings.identity (as backend:model, without the URL, which may carry a secret
# and may change between two runs against the same model). The rules a run enforces are part of it;
# allow_violations is not (it only decides whether fit refuses training rows that break a rule).
IDENTITY: tuple[str, ...] = (
    "discriminator", "batch_size", "n_examples", "rows_per_call", "top_k", "generator_temperature",
    "optimizer_temperature", "copy_policy", "copy_k", "dcr_threshold", "selection", "max_rounds", "optimize",
    "release_gate", "max_exposure", "optimizer_feedback", "optimizer_form", "optimizer_candidates", "constraints",
)
# a release gate setting: "auto", "off" (or None), or a distance
GateSetting = str | float | int | None


@dataclass(frozen=True)
class Settings:
    """Every parameter of :class:`~mallm_gan.MallmGan` with its default; see its docstring for meanings.

    Raises:
        ConfigError: On construction, naming every invalid parameter (``fields["problems"]`` lists them).
    """

    llm: Any = None
    optimizer_llm: Any = None
    discriminator: str = "logistic"
    epochs: int = 5
    optimize: bool = True
    batch_size: int = 50
    n_examples: int = 5
    rows_per_call: int = 5
    top_k: int = 3
    generator_temperature: float = 0.5
    optimizer_temperature: float = 1.0
    max_concurrency: int | None = None
    patience: int | None = None
    selection: str = "significant"
    copy_policy: str = "k"
    copy_k: int = 2
    dcr_threshold: float | None = None
    release_gate: GateSetting = "auto"
    max_exposure: int | None = None
    max_rounds: int = 4
    random_state: int | None = None
    max_calls: int | None = None
    max_tokens: int | None = None
    max_prompt_tokens: int | None = 6000
    local_only: bool = False
    timeout: float = 120.0
    optimizer_feedback: bool = False
    optimizer_form: str | None = None
    optimizer_candidates: int = 1
    constraints: Any = None
    allow_violations: bool = False

    def __post_init__(self) -> None:
        problems = self.problems()
        if problems:
            raise ConfigError(
                "invalid parameter" + ("s" if len(problems) > 1 else "") + ": " + "; ".join(problems),
                problems=problems,
            )

    def problems(self) -> list[str]:
        """Every problem of these values, one sentence each naming the parameter (empty when valid)."""
        out: list[str] = []
        if not isinstance(self.optimize, bool):
            out.append(f"optimize must be True or False, got {self.optimize!r}")
        for name in ("epochs", "batch_size", "n_examples", "rows_per_call", "top_k", "copy_k"):
            if not _is_int(getattr(self, name), low=1):
                out.append(f"{name} must be a positive integer, got {getattr(self, name)!r}")
        if _is_int(self.n_examples, 1) and _is_int(self.batch_size, 1) and self.n_examples > self.batch_size:
            out.append(f"n_examples ({self.n_examples}) must not exceed batch_size ({self.batch_size})")
        if not _is_int(self.max_rounds, low=0):
            out.append(f"max_rounds must be a whole number >= 0, got {self.max_rounds!r}")
        for name in ("patience", "max_calls", "max_tokens", "max_prompt_tokens"):
            value = getattr(self, name)
            if value is not None and not _is_int(value, low=1):
                out.append(f"{name} must be >= 1 (a whole number) or None, got {value!r}")
        if self.random_state is not None and not _is_int(self.random_state, low=0):
            out.append(f"random_state must be a whole number >= 0 or None, got {self.random_state!r}")
        for name in ("generator_temperature", "optimizer_temperature"):
            if not (_is_number(getattr(self, name)) and 0 <= getattr(self, name) <= 2):
                out.append(f"{name} must be between 0 and 2, got {getattr(self, name)!r}")
        if self.dcr_threshold is not None and not (_is_number(self.dcr_threshold) and self.dcr_threshold >= 0):
            out.append(f"dcr_threshold must be a number >= 0 or None, got {self.dcr_threshold!r}")
        out.extend(self._gate_problems())
        if self.max_exposure is not None and not _is_int(self.max_exposure, low=1):
            out.append(f"max_exposure must be a whole number >= 1 or None, got {self.max_exposure!r}")
        if not (_is_number(self.timeout) and self.timeout > 0):
            out.append(f"timeout must be a number of seconds > 0, got {self.timeout!r}")
        if self.max_concurrency is not None and (problem := concurrency_problem(self.max_concurrency)):
            out.append(problem + " (or None for the backend's default)")
        for name, allowed in (("discriminator", DISCRIMINATORS), ("copy_policy", COPY_POLICIES),
                              ("selection", SELECTIONS)):
            if getattr(self, name) not in allowed:
                out.append(f"{name} must be one of {list(allowed)}, got {getattr(self, name)!r}")
        for name in ("local_only", "optimizer_feedback", "allow_violations"):
            if not isinstance(getattr(self, name), bool):
                out.append(f"{name} must be True or False, got {getattr(self, name)!r}")
        if self.optimizer_form is not None and self.optimizer_form not in OPTIMIZER_FORMS:
            out.append(f"optimizer_form must be one of {list(OPTIMIZER_FORMS)} or None, got {self.optimizer_form!r}")
        if not _is_int(self.optimizer_candidates, low=1):
            out.append(f"optimizer_candidates must be a positive integer, got {self.optimizer_candidates!r}")
        try:
            rule_texts(self.constraints)
        except ConfigError as error:
            out.append(str(error))
        return out

    def _gate_problems(self) -> list[str]:
        try:
            mode, value = parse_gate(self.release_gate)
        except ConfigError as exc:
            return [exc.message]
        if self.dcr_threshold is None or not _is_number(self.dcr_threshold) or self.dcr_threshold < 0:
            return []
        if mode != "auto" and value != float(self.dcr_threshold):
            return [f"release_gate={self.release_gate!r} and dcr_threshold={self.dcr_threshold!r} disagree; "
                    "give one of them"]
        return []

    def gate(self) -> GateSetting:
        """The release gate in force: ``dcr_threshold`` is another spelling of a numeric ``release_gate``."""
        if self.dcr_threshold is None:
            return self.release_gate
        return float(self.dcr_threshold)

    @classmethod
    def names(cls) -> tuple[str, ...]:
        """The parameter names, in ``MallmGan.__init__`` order."""
        return tuple(f.name for f in dataclasses.fields(cls))

    @classmethod
    def defaults(cls) -> dict[str, Any]:
        return {f.name: f.default for f in dataclasses.fields(cls)}

    def to_dict(self) -> dict[str, Any]:
        """The parameters as JSON values (an LLM client object becomes its description)."""
        return {name: _jsonable(getattr(self, name)) for name in self.names()}

    def identity(self) -> dict[str, Any]:
        """What a saved run must agree on to be resumed with these settings (besides its data and seed)."""
        optimizer = self.optimizer_llm if self.optimizer_llm is not None else self.llm
        return {name: getattr(self, name) for name in IDENTITY} | {
            "llm": llm_identity(self.llm), "optimizer_llm": llm_identity(optimizer),
            # as text, a list (the identity is compared with one read back from JSON); a fit replaces them with
            # the rules its schema binds, which include the metadata file's
            "constraints": rule_texts(self.constraints),
        }


def llm_identity(llm: Any) -> str:
    """An LLM as a run depends on it: ``backend:model`` of a spec (``None`` resolves as fitting would, through
    ``$MALLM_LLM`` or the default), or a client object's class and model."""
    if llm is None or isinstance(llm, str):
        from .llm.registry import parse_spec, resolve_spec

        try:
            spec = parse_spec(resolve_spec(llm)[0])
        except ConfigError:
            return str(llm)  # a malformed spec is refused when its client is built, with the valid forms
        return f"{spec.backend}:{spec.model}"
    return f"{type(llm).__name__}:{getattr(llm, 'model', '')}"


def parse_gate(value: GateSetting) -> tuple[str, float | None]:
    """``("off", None)``, ``("auto", None)`` or ``("value", threshold)`` for a release gate setting.

    Raises:
        ConfigError: the setting is neither ``off``, ``auto`` nor a number >= 0.
    """
    if value is None or (isinstance(value, str) and value.strip().lower() in ("off", "none")):
        return "off", None
    if isinstance(value, str) and value.strip().lower() == "auto":
        return "auto", None
    number: float | None = None
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        number = float(value)
    elif isinstance(value, str):
        try:
            number = float(value)
        except ValueError:
            number = None
    if number is None or not math.isfinite(number) or number < 0:
        raise ConfigError(f"release gate must be 'off', 'auto' or a distance >= 0, got {value!r}")
    return "value", number


def _is_int(value: Any, low: int) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= low


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and not math.isnan(value)


def _jsonable(value: Any) -> Any:
    if isinstance(value, (list, tuple)) and all(isinstance(x, (str, dict)) for x in value):
        return [dict(x) if isinstance(x, dict) else x for x in value]  # rules, as given
    return value if isinstance(value, (str, int, float, bool, type(None))) else str(value)


__all__ = ["COPY_POLICIES", "DISCRIMINATORS", "IDENTITY", "OPTIMIZER_FORMS", "SELECTIONS", "GateSetting", "Settings",
           "llm_identity", "parse_gate"]
