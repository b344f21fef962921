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
        raise ConfigurationError(str(path), [_unreadable(exc)]) from exc


def read_yaml_documents(path: Path) -> list[Any]:
    """Every document of a YAML stream (documents separated by ``---``); empty ones left out."""
    try:
        return [d for d in yaml.safe_load_all(path.read_text(encoding="utf-8")) if d is not None]
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
        raise ConfigurationError(str(path), [_unreadable(exc)]) from exc


def _unreadable(exc: Exception) -> str:
    # A YAML error's text quotes the offending line: name the place only, so that the message
    # can go to a log (a reload refused) without the file's contents.
    if isinstance(exc, yaml.MarkedYAMLError) and exc.problem_mark is not None:
        mark = exc.problem_mark
        return (f"line {mark.line + 1}, column {mark.column + 1}: "
                f"cannot read it as YAML ({exc.problem})")
    return f"cannot read: {exc}"


def validation_problems(error: ValidationError) -> list[str]:
    problems = []
    for err in error.errors():
        where = ".".join(str(p) for p in err["loc"]) or "(top level)"
        problems.append(f"{where}: {err['msg']}")
    return problems


def load_model(model: type[M], path: Path) -> M:
    return _validate(model, path, read_yaml(path), "")


def load_models(model: type[M], path: Path) -> list[M]:
    """One model per YAML document of the file; a problem names its document when there are
    several (``document 2: determinations...``)."""
    documents = read_yaml_documents(path)
    if not documents:
        raise ConfigurationError(str(path), ["(top level): the file holds no document"])
    several = len(documents) > 1
    return [_validate(model, path, data, f"document {i}: " if several else "")
            for i, data in enumerate(documents, 1)]


def _validate(model: type[M], path: Path, data: Any, where: str) -> M:
    if not isinstance(data, dict):
        raise ConfigurationError(str(path), [f"{where}(top level): expected a mapping"])
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise ConfigurationError(str(path),
                                 [where + p for p in validation_problems(exc)]) from exc
