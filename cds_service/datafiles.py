"""Reading the operator's YAML/JSON data files with errors that name the file and field."""

from __future__ import annotations

from pathlib import Path
from typing import Any, TypeVar

import yaml
from pydantic import BaseModel, ValidationError

from cds_service.errors import ConfigurationError

M = TypeVar("M", bound=BaseModel)


def read_yaml(path: Path) -> Any:
    """YAML is a superset of JSON, so this reads both."""
    try:
        return yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
        raise ConfigurationError(str(path), [f"cannot read: {exc}"]) from exc


def validation_problems(error: ValidationError) -> list[str]:
    problems = []
    for err in error.errors():
        where = ".".join(str(p) for p in err["loc"]) or "(top level)"
        problems.append(f"{where}: {err['msg']}")
    return problems


def load_model(model: type[M], path: Path) -> M:
    data = read_yaml(path)
    if not isinstance(data, dict):
        raise ConfigurationError(str(path), ["(top level): expected a mapping"])
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise ConfigurationError(str(path), validation_problems(exc)) from exc
