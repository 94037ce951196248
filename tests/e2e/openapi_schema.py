"""Validators for OpenAI's published OpenAPI component schemas.

The spec (``openai-openapi.yaml``) is OpenAPI 3.1, whose schemas are JSON Schema 2020-12, but it
still uses OpenAPI 3.0's ``nullable: true`` in about a hundred places. A 2020-12 validator ignores
that keyword and so rejects e.g. ``finish_reason: null``. :func:`fix_nullable` rewrites each one
into "type or null" before validation:

* next to ``type``: the type becomes ``[type, "null"]`` (and ``null`` joins an ``enum``);
* next to ``anyOf`` / ``oneOf``: a ``{"type": "null"}`` branch is added;
* next to ``$ref`` / ``allOf`` (or anything else that constrains): the constraints move into
  ``anyOf: [<them>, {"type": "null"}]``;
* alone (no constraint at all): the keyword is dropped, null is already allowed.

The spec directory is ``$LUCAIR_SPECS_DIR`` if set, else ``<repo>/../shared/specs``.
"""

from __future__ import annotations

import copy
import functools
import os
from pathlib import Path
from typing import Any

import jsonschema
import yaml
from referencing import Registry
from referencing.jsonschema import DRAFT202012

REPO_ROOT = Path(__file__).resolve().parents[2]
SPEC_URI = "urn:lucair:openai-openapi"

# Keywords that say nothing about which values are valid (kept beside the rewritten schema).
_ANNOTATIONS = {
    "description", "title", "default", "example", "examples", "deprecated", "readOnly", "writeOnly",
    "discriminator", "externalDocs", "xml", "format", "$comment",
}


def spec_path() -> Path:
    specs = os.environ.get("LUCAIR_SPECS_DIR")
    base = Path(specs) if specs else REPO_ROOT.parent / "shared" / "specs"
    return base / "openai-openapi.yaml"


def _nullable_rewrite(node: dict[str, Any]) -> dict[str, Any]:
    """One schema object carrying ``nullable: true`` → the same schema that also accepts null."""
    out = {k: v for k, v in node.items() if k != "nullable"}
    t = out.get("type")
    if isinstance(t, str):
        if t != "null":
            out["type"] = [t, "null"]
        if isinstance(out.get("enum"), list) and None not in out["enum"]:
            out["enum"] = [*out["enum"], None]
        return out
    if isinstance(t, list):
        if "null" not in t:
            out["type"] = [*t, "null"]
        if isinstance(out.get("enum"), list) and None not in out["enum"]:
            out["enum"] = [*out["enum"], None]
        return out
    constraints = {k: v for k, v in out.items() if k not in _ANNOTATIONS and not k.startswith("x-")}
    if not constraints:
        return out  # nothing constrains the value: null is already valid
    if set(constraints) == {"enum"} and isinstance(out["enum"], list):
        if None not in out["enum"]:
            out["enum"] = [*out["enum"], None]
        return out
    if set(constraints) == {"anyOf"} or set(constraints) == {"oneOf"}:
        key = next(iter(constraints))
        branches = list(out[key])
        if {"type": "null"} not in branches:
            branches.append({"type": "null"})
        out[key] = branches
        return out
    # $ref, allOf, or several keywords at once: wrap them all as one branch of an anyOf.
    kept = {k: v for k, v in out.items() if k not in constraints}
    kept["anyOf"] = [constraints, {"type": "null"}]
    return kept


def fix_nullable(node: Any) -> Any:
    """Returns a copy of ``node`` with every ``nullable: true`` rewritten (see module docstring)."""
    if isinstance(node, list):
        return [fix_nullable(v) for v in node]
    if not isinstance(node, dict):
        return node
    walked = {k: fix_nullable(v) for k, v in node.items()}
    if walked.get("nullable") is True:
        return _nullable_rewrite(walked)
    if "nullable" in walked and walked["nullable"] is False:
        walked.pop("nullable")
    return walked


def count_nullable(node: Any) -> int:
    if isinstance(node, list):
        return sum(count_nullable(v) for v in node)
    if isinstance(node, dict):
        return (1 if node.get("nullable") is True else 0) + sum(count_nullable(v) for v in node.values())
    return 0


@functools.lru_cache(maxsize=1)
def raw_spec() -> dict[str, Any]:
    path = spec_path()
    if not path.is_file():
        raise FileNotFoundError(f"OpenAI OpenAPI spec not found at {path} (set LUCAIR_SPECS_DIR)")
    with path.open(encoding="utf-8") as f:
        return yaml.safe_load(f)


@functools.lru_cache(maxsize=1)
def fixed_spec() -> dict[str, Any]:
    return fix_nullable(copy.deepcopy(raw_spec()))


@functools.lru_cache(maxsize=1)
def registry() -> Registry:
    resource = DRAFT202012.create_resource(fixed_spec())
    return Registry().with_resource(SPEC_URI, resource)


@functools.lru_cache(maxsize=None)
def validator(name: str) -> jsonschema.protocols.Validator:
    """A Draft 2020-12 validator for ``#/components/schemas/<name>`` with every ``$ref`` resolvable."""
    if name not in fixed_spec()["components"]["schemas"]:
        raise KeyError(f"no component schema named {name!r} in {spec_path()}")
    schema = {"$schema": "https://json-schema.org/draft/2020-12/schema", "$ref": f"{SPEC_URI}#/components/schemas/{name}"}
    return jsonschema.Draft202012Validator(schema, registry=registry())


def validation_errors(name: str, instance: Any) -> list[str]:
    errors = sorted(validator(name).iter_errors(instance), key=lambda e: list(e.absolute_path))
    out = []
    for e in errors:
        path = "/".join(str(p) for p in e.absolute_path) or "(root)"
        # Name the innermost failing branch of an anyOf/oneOf, which is usually the real cause.
        detail = ""
        if e.context:
            best = jsonschema.exceptions.best_match(e.context)
            detail = f" [{'/'.join(str(p) for p in best.absolute_path)}: {best.message}]"
        out.append(f"{path}: {e.message[:300]}{detail}")
    return out


def assert_valid(name: str, instance: Any) -> None:
    """Fails the test with every schema violation listed."""
    errors = validation_errors(name, instance)
    assert not errors, f"response does not match OpenAPI schema {name}:\n  " + "\n  ".join(errors) + f"\ninstance: {instance!r}"[:4000]
