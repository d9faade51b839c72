"""Check requests and responses against Microsoft's published Service Map spec (Swagger 2.0).

Tests use this to prove that what our client sends, and what our fakes answer, is what the
real service documents: ``../shared/servicemap-api/arm-service-map.json`` beside the repo.
It implements the part of Swagger 2.0 that spec uses, and nothing more:

* paths: templates matched segment by segment (literal segments case-insensitively, as ARM
  does); path parameters percent-decoded and checked for length and ``pattern``. A pattern is
  searched, not anchored, as JSON Schema (and so Swagger 2.0) defines it.
* query: required parameters present, unknown ones refused, each given once, typed
  (boolean, integer with ``minimum``/``maximum`` and int32 range, ``date-time``).
  ``api-version`` must be one of ``api_versions`` -- by default the spec's own
  ``info.version`` (the parameter has no ``enum``).
* bodies: ``$ref``, ``allOf`` inheritance, ``required``, JSON types, ``format`` (int32,
  date-time), string lengths, ``enum`` unless ``x-ms-enum.modelAsString`` is true, and
  polymorphism: the ``discriminator`` value picks the subtype by ``x-ms-discriminator-value``
  (the definition name when absent) among the definitions that ``allOf`` the base.
  Request bodies may not carry properties the schema does not define (a typo there is our
  bug); responses may (services add fields). ``readOnly`` properties are accepted anywhere.
* responses: the status must be documented; a 4xx/5xx falls back to ``default``
  (``ErrorResponse``); a status with no schema (204) must have no body.

Every check returns a list of problems (empty = conforms) rather than raising, so one test
can show all that is wrong.
"""

from __future__ import annotations

import json
import re
from collections.abc import Collection, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

import pytest

SPEC_DIR = Path(__file__).resolve().parents[2] / "shared" / "servicemap-api"
SPEC_FILE = SPEC_DIR / "arm-service-map.json"

_DATE_TIME = re.compile(r"\d{4}-\d{2}-\d{2}[Tt]\d{2}:\d{2}:\d{2}(\.\d+)?([Zz]|[+-]\d{2}:\d{2})")
_INTEGER = re.compile(r"[+-]?\d+")
_INT32 = (-(2**31), 2**31 - 1)
_JSON_TYPES = {dict: "object", list: "array", str: "string", bool: "boolean", int: "integer", float: "number",
               type(None): "null"}


@dataclass(frozen=True)
class _Shape:
    """A schema with its ``allOf`` ancestry merged in."""

    type: str | None
    properties: Mapping[str, Any]
    required: frozenset[str]
    discriminator: str | None


class SpecChecker:
    """Conformance checks against one loaded spec.

    Args:
        spec: the decoded spec.
        api_versions: the ``api-version`` values to accept; default: the spec's ``info.version``.
    """

    def __init__(self, spec: Mapping[str, Any], *, api_versions: Collection[str] | None = None) -> None:
        self.spec = spec
        self.api_versions = frozenset(api_versions or {spec["info"]["version"]})
        self._defs: Mapping[str, Any] = spec["definitions"]
        self._templates = [(template, template.strip("/").split("/")) for template in spec["paths"]]
        self._children: dict[str, list[str]] = {name: [] for name in self._defs}
        for name, schema in self._defs.items():
            for parent in schema.get("allOf", ()):
                if "$ref" in parent:
                    self._children[_ref_name(parent)].append(name)
        self._shapes: dict[str, _Shape] = {}

    @classmethod
    def load(cls, *, api_versions: Collection[str] | None = None) -> SpecChecker:
        """The checker for ``../shared/servicemap-api/arm-service-map.json``; skips the test if absent."""
        if not SPEC_FILE.is_file():
            pytest.skip("needs ../shared/servicemap-api (the published Service Map spec) beside the repo")
        return cls(json.loads(SPEC_FILE.read_text(encoding="utf-8")), api_versions=api_versions)

    def operations(self) -> Iterator[tuple[str, str, Mapping[str, Any]]]:
        """(method, path template, operation) for every operation, in spec order."""
        for template, item in self.spec["paths"].items():
            for method, operation in item.items():
                if method != "parameters":
                    yield method.upper(), template, operation

    # --- requests -----------------------------------------------------------------------------

    def check_request(
        self, method: str, url_path: str, query: Mapping[str, Any] | None, body: object | None
    ) -> list[str]:
        """Problems with one request; ``url_path`` may be a full URL and carry its own query."""
        path, query_lists = _split(url_path, query)
        problems: list[str] = []
        found = self._operation(method, path, problems)
        if found is None:
            return problems
        operation, path_values, parameters = found
        for param in parameters:
            if param["in"] == "path":
                problems += _check_path_value(param, path_values[param["name"]])
        known = {p["name"] for p in parameters if p["in"] == "query"}
        for name in sorted(set(query_lists) - known):
            problems.append(f"query: unknown parameter {name!r} for {operation['operationId']}")
        for param in (p for p in parameters if p["in"] == "query"):
            values = query_lists.get(param["name"])
            if values is None:
                if param.get("required"):
                    problems.append(f"query: required parameter {param['name']!r} is missing")
                continue
            if len(values) != 1:
                problems.append(f"query: {param['name']!r} is given {len(values)} times")
                continue
            problems += self._check_query_value(param, values[0])
        body_params = [p for p in parameters if p["in"] == "body"]
        if not body_params:
            if body is not None:
                problems.append(f"body: {operation['operationId']} takes no body")
        elif body is None:
            if body_params[0].get("required"):
                problems.append(f"body: {operation['operationId']} requires a {body_params[0]['name']!r} body")
        else:
            self._validate(body_params[0]["schema"], body, "request body", problems, request=True)
        return problems

    def _check_query_value(self, param: Mapping[str, Any], value: str) -> list[str]:
        name = param["name"]
        if name == "api-version":
            if value not in self.api_versions:
                return [f"query: api-version {value!r} is not one of {sorted(self.api_versions)}"]
            return []
        kind = param.get("type")
        if kind == "boolean":
            return [] if value.lower() in ("true", "false") else [f"query: {name}={value!r} is not a boolean"]
        if kind == "integer":
            if not _INTEGER.fullmatch(value):
                return [f"query: {name}={value!r} is not an integer"]
            return _check_number(param, int(value), f"query: {name}")
        if param.get("format") == "date-time" and not _DATE_TIME.fullmatch(value):
            return [f"query: {name}={value!r} is not an RFC 3339 date-time"]
        return []

    # --- responses ----------------------------------------------------------------------------

    def check_response(self, method: str, url_path: str, status: int, body: object) -> list[str]:
        """Problems with one response to ``method url_path``."""
        problems: list[str] = []
        found = self._operation(method, _split(url_path, None)[0], problems)
        if found is None:
            return problems
        responses = found[0]["responses"]
        response = responses.get(str(status))
        if response is None:
            if status < 400 or "default" not in responses:
                documented = sorted(code for code in responses if code != "default")
                return [f"status {status} is not documented for {found[0]['operationId']} (only {documented})"]
            response = responses["default"]
        schema = response.get("schema")
        if schema is None:
            if body not in (None, b"", ""):
                problems.append(f"status {status} has no body in the spec, but one was sent")
        else:
            self._validate(schema, body, "response body", problems, request=False)
        return problems

    # --- paths and parameters -----------------------------------------------------------------

    def _operation(
        self, method: str, path: str, problems: list[str]
    ) -> tuple[Mapping[str, Any], dict[str, str], list[Mapping[str, Any]]] | None:
        """(operation, decoded path values, resolved parameters) for ``method path``."""
        segments = path.strip("/").split("/")
        best: tuple[int, str, dict[str, str]] | None = None
        for template, parts in self._templates:
            if len(parts) != len(segments):
                continue
            values: dict[str, str] = {}
            literals = 0
            for part, segment in zip(parts, segments):
                if part.startswith("{") and part.endswith("}"):
                    if not segment:
                        break
                    values[part[1:-1]] = unquote(segment)
                elif part.lower() == segment.lower():
                    literals += 1
                else:
                    break
            else:
                if best is None or literals > best[0]:
                    best = (literals, template, values)
        if best is None:
            problems.append(f"path: {path!r} matches no path of the spec")
            return None
        item = self.spec["paths"][best[1]]
        operation = item.get(method.lower())
        if operation is None:
            allowed = sorted(m.upper() for m in item if m != "parameters")
            problems.append(f"path: {method.upper()} is not defined for {best[1]} (only {allowed})")
            return None
        parameters = [self._parameter(p) for p in (*item.get("parameters", ()), *operation.get("parameters", ()))]
        return operation, best[2], parameters

    def _parameter(self, param: Mapping[str, Any]) -> Mapping[str, Any]:
        if "$ref" in param:
            return self.spec["parameters"][_ref_name(param)]
        return param

    # --- schemas ------------------------------------------------------------------------------

    def _validate(self, schema: Mapping[str, Any], value: object, path: str, out: list[str], *, request: bool) -> None:
        name = None
        if "$ref" in schema:  # Swagger 2.0 ignores a $ref's siblings (readOnly, description)
            name = _ref_name(schema)
            schema = self._defs[name]
        shape = self._shape(name, schema)
        if shape.discriminator and type(value) is dict and name is not None:
            name = self._subtype(name, shape.discriminator, value.get(shape.discriminator), path, out)
            schema = self._defs[name]
            shape = self._shape(name, schema)
        if not _type_ok(shape.type, value):
            out.append(f"{path}: expected {shape.type}, got {_JSON_TYPES.get(type(value), type(value).__name__)}")
            return
        if type(value) is dict:
            for key in sorted(shape.required - value.keys()):
                out.append(f"{path}: required property {key!r} is missing")
            for key, item in value.items():
                if key in shape.properties:
                    self._validate(shape.properties[key], item, f"{path}.{key}", out, request=request)
                elif request:
                    out.append(f"{path}: property {key!r} is not in the schema")
        elif type(value) is list:
            for i, item in enumerate(value):
                self._validate(schema.get("items", {}), item, f"{path}[{i}]", out, request=request)
        else:
            out += _check_scalar(schema, value, path)

    def _shape(self, name: str | None, schema: Mapping[str, Any]) -> _Shape:
        if name is not None and name in self._shapes:
            return self._shapes[name]
        properties: dict[str, Any] = {}
        required: set[str] = set()
        kind, discriminator = schema.get("type"), schema.get("discriminator")
        for parent in schema.get("allOf", ()):
            parent_name = _ref_name(parent) if "$ref" in parent else None
            inherited = self._shape(parent_name, self._defs[parent_name] if parent_name else parent)
            properties.update(inherited.properties)
            required |= inherited.required
            kind, discriminator = kind or inherited.type, discriminator or inherited.discriminator
        properties.update(schema.get("properties", {}))
        required |= set(schema.get("required", ()))
        if kind is None and properties:
            kind = "object"
        shape = _Shape(kind, properties, frozenset(required), discriminator)
        if name is not None:
            self._shapes[name] = shape
        return shape

    def _subtype(self, base: str, prop: str, kind: object, path: str, out: list[str]) -> str:
        """The definition (``base`` or a descendant) whose discriminator ``prop`` value is ``kind``."""
        if not isinstance(kind, str):
            return base  # "missing" / wrong type is reported by the required and type checks
        family = self._family(base)
        for name in family:
            if self._defs[name].get("x-ms-discriminator-value", name) == kind:
                return name
        declared = self._shape(base, self._defs[base]).properties.get(prop, {})
        if "discriminator" in self._defs[base] and kind in declared.get("enum", ()):
            return base  # a value the base lists but no subtype models (ref:onmachine)
        values = sorted(
            {self._defs[n]["x-ms-discriminator-value"] for n in family if "x-ms-discriminator-value" in self._defs[n]}
        )
        out.append(f"{path}.{prop}: {kind!r} is not a kind of {base} (expected one of {values})")
        return base

    def _family(self, base: str) -> list[str]:
        """``base`` and every definition that inherits from it, breadth first."""
        family, queue = [], [base]
        while queue:
            name = queue.pop(0)
            if name not in family:
                family.append(name)
                queue += self._children[name]
        return family


def _split(url_path: str, query: Mapping[str, Any] | None) -> tuple[str, dict[str, list[str]]]:
    """(path, query as lists) from a path or URL plus an optional query mapping."""
    parts = urlsplit(url_path)
    lists = {k: list(v) for k, v in parse_qs(parts.query, keep_blank_values=True).items()}
    for key, value in (query or {}).items():
        lists.setdefault(key, []).extend(map(str, value) if isinstance(value, (list, tuple)) else [str(value)])
    return parts.path, lists


def _check_path_value(param: Mapping[str, Any], value: str) -> list[str]:
    name, problems = param["name"], []
    if len(value) < param.get("minLength", 0) or len(value) > param.get("maxLength", len(value)):
        problems.append(
            f"path: {name}={value!r} has {len(value)} characters, allowed "
            f"{param.get('minLength', 0)}..{param.get('maxLength', 'any')}"
        )
    if "pattern" in param and not re.search(param["pattern"], value):
        problems.append(f"path: {name}={value!r} does not match {param['pattern']!r}")
    return problems


def _check_scalar(schema: Mapping[str, Any], value: object, path: str) -> list[str]:
    problems = []
    enum = schema.get("enum")
    if enum is not None and not schema.get("x-ms-enum", {}).get("modelAsString", False) and value not in enum:
        problems.append(f"{path}: {value!r} is not one of {enum}")
    if isinstance(value, str):
        if schema.get("format") == "date-time" and not _DATE_TIME.fullmatch(value):
            problems.append(f"{path}: {value!r} is not an RFC 3339 date-time")
        if not schema.get("minLength", 0) <= len(value) <= schema.get("maxLength", len(value)):
            low, high = schema.get("minLength", 0), schema.get("maxLength", "any")
            problems.append(f"{path}: length {len(value)} is outside {low}..{high}")
    elif type(value) in (int, float):
        problems += _check_number(schema, value, path)
    return problems


def _check_number(schema: Mapping[str, Any], value: float, path: str) -> list[str]:
    low, high = schema.get("minimum"), schema.get("maximum")
    if schema.get("format") == "int32" and not _INT32[0] <= value <= _INT32[1]:
        return [f"{path}: {value} is outside the int32 range"]
    if (low is not None and value < low) or (high is not None and value > high):
        return [f"{path}: {value} is outside {low}..{high}"]
    return []


def _type_ok(kind: str | None, value: object) -> bool:
    if kind is None:
        return value is not None
    actual = type(value)
    if kind == "number":
        return actual in (int, float)
    return _JSON_TYPES.get(actual) == kind


def _ref_name(schema: Mapping[str, Any]) -> str:
    return schema["$ref"].rsplit("/", 1)[-1]
