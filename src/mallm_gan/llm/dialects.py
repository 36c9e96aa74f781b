"""Structured-output dialects: which JSON Schema a client sends, and which subset each provider accepts.

A JSON schema that is valid JSON Schema 2020-12 is not necessarily accepted by a server that turns it into a
grammar: each provider compiles a documented subset and refuses (or silently ignores) the rest. The client
speaks one of two dialects:

``portable``
    Every array item schema is an object schema (no tuples, no boolean schemas), every object lists all its
    properties in ``required`` and sets ``additionalProperties: false``, patterns use plain character
    classes, and only keywords that every provider below compiles appear. Sent with ``strict: true``. The
    default for every HTTP endpoint (OpenAI, Azure, vLLM, Ollama, llama.cpp server).
``positional``
    Rows as fixed-length tuples (``prefixItems``), one typed slot per column: about half the completion
    tokens of keyed objects. Only for the in-process llama.cpp engine, which compiles schemas with
    LLGuidance, where tuples are supported.

:data:`PROVIDERS` names each provider's subset and where it was checked; :func:`violations` walks a schema
and lists every keyword or construct outside a subset (the unit tests run it on every schema we emit).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, Literal

Dialect = Literal["portable", "positional"]
DIALECTS: tuple[Dialect, ...] = ("portable", "positional")

# annotations every provider accepts and ignores
_ANNOTATIONS = frozenset({"title", "description"})
_CORE = frozenset({"type", "properties", "required", "additionalProperties", "items", "enum"}) | _ANNOTATIONS
# keywords whose value is a subschema, a list of subschemas or a map of subschemas
_SUBSCHEMA = ("items", "additionalProperties", "not", "if", "then", "else", "contains")
_SUBSCHEMA_LISTS = ("prefixItems", "anyOf", "oneOf", "allOf")
_SUBSCHEMA_MAPS = ("properties", "$defs", "definitions", "patternProperties")


@dataclass(frozen=True)
class Provider:
    """A provider's documented JSON Schema subset for constrained decoding.

    Args:
        name: Short key.
        label: Provider name for messages and docs.
        keywords: Keywords it compiles (anything else is refused or silently ignored).
        strict: Objects must set ``additionalProperties: false`` and require every property, and the root
            must be an object (OpenAI's strict mode).
        boolean_schemas: Whether ``true``/``false`` may stand for a subschema.
        escapes_in_patterns: Whether a pattern may use ``\\d``-style class escapes.
        checked: Where the subset was read or measured.
    """

    name: str
    label: str
    keywords: frozenset[str]
    strict: bool = False
    boolean_schemas: bool = True
    escapes_in_patterns: bool = True
    checked: str = ""


PROVIDERS: dict[str, Provider] = {
    p.name: p
    for p in (
        Provider(
            "openai-strict",
            "OpenAI / Azure OpenAI, Structured Outputs with strict: true",
            _CORE | {"anyOf", "const", "minItems", "maxItems", "minimum", "maximum", "exclusiveMinimum",
                     "exclusiveMaximum", "multipleOf", "pattern", "format", "$defs", "$ref"},
            strict=True,
            boolean_schemas=False,
            checked="https://platform.openai.com/docs/guides/structured-outputs#supported-schemas",
        ),
        Provider(
            "llama.cpp",
            "llama.cpp server (json-schema-to-grammar)",
            # prefixItems is documented as broken; bounds are enforced on integers only (ignored on numbers)
            _CORE | {"anyOf", "oneOf", "allOf", "const", "minItems", "maxItems", "minimum", "maximum",
                     "exclusiveMinimum", "exclusiveMaximum", "pattern", "format", "minLength", "maxLength",
                     "$defs", "$ref"},
            boolean_schemas=False,  # the real server answers HTTP 400 "schema must be an object" to items: false
            escapes_in_patterns=False,  # the real server drops a pattern with \d and accepts any string
            checked="https://github.com/ggml-org/llama.cpp/blob/master/grammars/README.md and the real server "
            "(xllamacpp Server, tests/integration/test_llama_server.py)",
        ),
        Provider(
            "ollama",
            "Ollama (format / response_format, converted by llama.cpp's json-schema-to-grammar)",
            _CORE | {"anyOf", "oneOf", "allOf", "const", "minItems", "maxItems", "minimum", "maximum",
                     "pattern", "format", "minLength", "maxLength", "$defs", "$ref"},
            boolean_schemas=False,
            escapes_in_patterns=False,
            checked="https://ollama.com/blog/structured-outputs and "
            "https://docs.ollama.com/capabilities/structured-outputs",
        ),
        Provider(
            "vllm",
            "vLLM (structured outputs: xgrammar, falling back to guidance)",
            _CORE | {"prefixItems", "anyOf", "oneOf", "allOf", "const", "minItems", "maxItems", "minimum",
                     "maximum", "exclusiveMinimum", "exclusiveMaximum", "pattern", "format", "minLength",
                     "maxLength", "$defs", "$ref"},
            checked="https://docs.vllm.ai/en/latest/features/structured_outputs/ and "
            "xgrammar's 'Supported JSON Schema' page",
        ),
        Provider(
            "llguidance",
            "in-process llama.cpp with LLGuidance",
            _CORE | {"prefixItems", "anyOf", "allOf", "const", "minItems", "maxItems", "minimum", "maximum",
                     "exclusiveMinimum", "exclusiveMaximum", "multipleOf", "pattern", "format", "minLength",
                     "maxLength", "$defs", "$ref", "x-guidance"},
            checked="https://github.com/microsoft/llguidance/blob/main/parser/src/json/README.md and the in-process "
            "engine (benchmarks/dialects.py)",
        ),
    )
}

#: The providers each dialect must satisfy.
TARGETS: dict[Dialect, tuple[str, ...]] = {
    "portable": ("openai-strict", "llama.cpp", "ollama", "vllm", "llguidance"),
    "positional": ("llguidance",),
}

_CLASS_ESCAPE = re.compile(r"\\[dDwWsS]")


def _children(schema: dict[str, Any], path: str) -> Iterator[tuple[str, Any]]:
    for key in _SUBSCHEMA:
        if key in schema and not (key == "additionalProperties" and isinstance(schema[key], bool)):
            yield f"{path}/{key}", schema[key]
    for key in _SUBSCHEMA_LISTS:
        for i, sub in enumerate(schema.get(key) or []):
            yield f"{path}/{key}/{i}", sub
    for key in _SUBSCHEMA_MAPS:
        for name, sub in (schema.get(key) or {}).items():
            yield f"{path}/{key}/{name}", sub


def _node_problems(node: dict[str, Any], path: str, provider: Provider) -> list[str]:
    problems = [f"{path}: {key!r} is not in the {provider.name} subset" for key in node if key not in provider.keywords]
    pattern = node.get("pattern")
    if isinstance(pattern, str):
        if not provider.escapes_in_patterns and _CLASS_ESCAPE.search(pattern):
            problems.append(f"{path}: pattern {pattern!r} uses a class escape ({provider.name} ignores it)")
        if not (pattern.startswith("^") and pattern.endswith("$")):
            problems.append(f"{path}: pattern {pattern!r} must be anchored with ^...$")
    if provider.strict and (node.get("type") == "object" or "properties" in node):
        props = list(node.get("properties") or {})
        if node.get("additionalProperties") is not False:
            problems.append(f"{path}: an object must set additionalProperties: false ({provider.name})")
        if sorted(node.get("required") or []) != sorted(props):
            problems.append(f"{path}: every property must be required ({provider.name})")
    return problems


def violations(schema: Any, provider: str | Provider) -> list[str]:
    """Every keyword or construct of ``schema`` outside ``provider``'s subset, as ``"#/path: problem"``.

    An empty list means the provider compiles the schema as written (and enforces it, within the limits
    its documentation names).
    """
    spec = PROVIDERS[provider] if isinstance(provider, str) else provider
    problems: list[str] = []
    if spec.strict and not (isinstance(schema, dict) and schema.get("type") == "object"):
        problems.append(f"#: the root must be an object schema ({spec.name})")
    stack: list[tuple[str, Any]] = [("#", schema)]
    while stack:
        path, node = stack.pop()
        if isinstance(node, bool):
            if not spec.boolean_schemas:
                problems.append(f"{path}: boolean schema {str(node).lower()} ({spec.name} needs an object)")
            continue
        if not isinstance(node, dict):
            problems.append(f"{path}: not a schema ({type(node).__name__})")
            continue
        problems.extend(_node_problems(node, path, spec))
        stack.extend(_children(node, path))
    return sorted(problems)


def dialect_violations(schema: Any, dialect: Dialect) -> dict[str, list[str]]:
    """:func:`violations` of ``schema`` for every provider the dialect targets (only those with problems)."""
    out = {name: violations(schema, name) for name in TARGETS[dialect]}
    return {name: found for name, found in out.items() if found}


def check_dialect(dialect: str) -> Dialect:
    """``dialect`` if it is one we speak, else a ConfigError listing them."""
    if dialect not in DIALECTS:
        from ..errors import ConfigError

        raise ConfigError(f"unknown structured-output dialect {dialect!r}; one of {', '.join(DIALECTS)}")
    return dialect  # type: ignore[return-value]


__all__ = ["DIALECTS", "PROVIDERS", "TARGETS", "Dialect", "Provider", "check_dialect", "dialect_violations",
           "violations"]
