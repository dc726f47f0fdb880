"""A small YAML writer for the provisioning files and rules: mappings, lists, strings, numbers.

The project does not depend on PyYAML, and these documents are plain data, so a few lines do.
Strings are written plain when that is unambiguous, otherwise double-quoted with JSON escapes (a
JSON string is a valid YAML double-quoted scalar); strings spanning lines become ``|-`` blocks.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from typing import TypeAlias

_PLAIN = re.compile(r"[A-Za-z_][A-Za-z0-9_./-]*")
_RESERVED = frozenset({"true", "false", "yes", "no", "on", "off", "null", "y", "n", "~"})

Value: TypeAlias = "Mapping[str, Value] | Sequence[Value] | str | int | float | bool | None"


def dump(document: Value) -> str:
    """The document as YAML text, ending in a newline."""
    return "\n".join(_lines(document, 0)) + "\n"


def _scalar(value: Value) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, str):
        plain = _PLAIN.fullmatch(value) and value.lower() not in _RESERVED
        return value if plain else json.dumps(value, ensure_ascii=False)
    if isinstance(value, Mapping) and not value:
        return "{}"
    if isinstance(value, Sequence) and not value:
        return "[]"
    raise TypeError(f"cannot write {type(value).__name__} as a YAML scalar")


def _is_block(value: Value) -> bool:
    return isinstance(value, Mapping | list | tuple) and bool(value)


def _lines(value: Value, indent: int) -> list[str]:
    pad = " " * indent
    if isinstance(value, Mapping) and value:
        return _mapping_lines(value, indent)
    if isinstance(value, list | tuple) and value:
        lines = []
        for item in value:
            if _is_block(item):
                inner = _lines(item, indent + 2)
                lines.append(f"{pad}- {inner[0][indent + 2 :]}")
                lines.extend(inner[1:])
            else:
                lines.append(f"{pad}- {_scalar(item)}")
        return lines
    return [pad + _scalar(value)]


def _mapping_lines(mapping: Mapping[str, Value], indent: int) -> list[str]:
    pad = " " * indent
    lines = []
    for key, value in mapping.items():
        name = _scalar(key)
        if _is_block(value):
            lines.append(f"{pad}{name}:")
            lines.extend(_lines(value, indent + 2))
        elif isinstance(value, str) and _fits_block(value):
            lines.append(f"{pad}{name}: |-")
            lines.extend(f"{pad}  {line}" if line else "" for line in value.split("\n"))
        else:
            lines.append(f"{pad}{name}: {_scalar(value)}")
    return lines


def _fits_block(text: str) -> bool:
    """Multi-line text a ``|-`` block keeps exactly: no leading blanks, no trailing newline."""
    return "\n" in text and not text.endswith("\n") and not text[:1].isspace()
