"""Evaluate the few CloudFormation functions our template uses, for a known set of names.

The local stack creates its resources from the template's own properties, and the IAM tests
read the template's policies: both need ``{"Fn::Sub": "${JobBucket.Arn}/*"}`` turned into
``arn:aws:s3:::cloudburst-local/*``. Supported: Ref, Fn::GetAtt, Fn::Sub, Fn::Join, Fn::If,
Fn::Select, Fn::Equals and AWS::NoValue — exactly what ``template.py`` writes.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

_SUB = re.compile(r"\$\{([^}!][^}]*)\}")
_NO_VALUE = object()


class UnresolvedName(KeyError):
    """The template names something the caller gave no value for."""


def resolve(
    value: Any, names: Mapping[str, Any], conditions: Mapping[str, bool] | None = None
) -> Any:
    """``value`` with every intrinsic function evaluated.

    ``names`` maps ``Ref`` targets (parameters, resources, ``AWS::Region``…) and
    ``"Logical.Attribute"`` for ``GetAtt``; ``conditions`` gives each condition's truth.
    """
    resolved = _resolve(value, names, conditions or {})
    return None if resolved is _NO_VALUE else resolved


def _resolve(value: Any, names: Mapping[str, Any], conditions: Mapping[str, bool]) -> Any:
    if isinstance(value, list):
        resolved = [_resolve(v, names, conditions) for v in value]
        return [v for v in resolved if v is not _NO_VALUE]
    if not isinstance(value, dict):
        return value
    if len(value) == 1:
        [(key, argument)] = value.items()
        if key == "Ref":
            return _NO_VALUE if argument == "AWS::NoValue" else _name(names, argument)
        if key == "Fn::GetAtt":
            logical, attribute = argument if isinstance(argument, list) else argument.split(".")
            return _name(names, f"{logical}.{attribute}")
        if key == "Fn::Sub":
            return _sub(argument, names, conditions)
        if key == "Fn::Join":
            separator, items = argument
            return separator.join(str(v) for v in _list(items, names, conditions))
        if key == "Fn::Select":
            index, items = argument
            return _list(items, names, conditions)[int(index)]
        if key == "Fn::If":
            condition, when_true, when_false = argument
            if condition not in conditions:
                raise UnresolvedName(f"condition {condition}")
            chosen = when_true if conditions[condition] else when_false
            return _resolve(chosen, names, conditions)
        if key == "Fn::Equals":
            left, right = (_resolve(v, names, conditions) for v in argument)
            return left == right
    members = {k: _resolve(v, names, conditions) for k, v in value.items()}
    return {k: v for k, v in members.items() if v is not _NO_VALUE}


def _list(items: Any, names: Mapping[str, Any], conditions: Mapping[str, bool]) -> list[Any]:
    resolved = _resolve(items, names, conditions)
    return resolved if isinstance(resolved, list) else [resolved]


def _sub(argument: Any, names: Mapping[str, Any], conditions: Mapping[str, bool]) -> str:
    text, variables = (argument, {}) if isinstance(argument, str) else argument
    local = {k: _resolve(v, names, conditions) for k, v in variables.items()}

    def value(match: re.Match[str]) -> str:
        name = match.group(1)
        return str(local[name] if name in local else _name(names, name))

    return _SUB.sub(value, text)


def _name(names: Mapping[str, Any], name: str) -> Any:
    if name not in names:
        raise UnresolvedName(name)
    return names[name]
