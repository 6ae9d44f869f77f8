"""Study configs, profiles and ``--set key=value`` overrides.

A study's ``Config`` is a pydantic model (nested models for sections such as ``data``). A
profile is a flat dict of dotted overrides (``{"epochs": 2, "data.subset": 100}``) applied on
top of the defaults; ``--set`` overrides are applied last. Values given on the command line are
parsed as YAML scalars/lists (``12``, ``0.5``, ``[1, 2, 3]``, ``true``) and then validated by
pydantic, so a wrong type is reported with the key's name. A ``--config FILE`` (TOML or YAML,
:func:`config_file_overrides`) sits between the profile and ``--set``: the ``--set`` values win.
"""

from __future__ import annotations

import difflib
import hashlib
import json
import re
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from dltour.errors import DltourError

PROFILES = ("smoke", "demo", "full")


class StudyConfig(BaseModel):
    """Fields every study has. Subclasses add their own, each with a docstring under the field:
    pydantic reads it (``use_attribute_docstrings``) and ``dltour show`` prints it."""

    model_config = ConfigDict(extra="forbid", validate_assignment=True, use_attribute_docstrings=True)

    seeds: int = Field(3, ge=1)
    """How many seeds each variant runs with (seeds 0..seeds-1)."""


class DataConfig(BaseModel):
    """The one shape of every study's ``data`` section: where the data comes from. A family adds
    its extras (with names that say what they are) in a subclass beside its loader."""

    model_config = ConfigDict(extra="forbid", use_attribute_docstrings=True)
    path: str | None = None
    """Explicit local path to the dataset file or folder (skips cache and download)."""
    source: Literal["embedded", "download"] = "download"
    """Without ``path``: ``embedded`` is the demo pack's copy (offline), ``download`` the full dataset
    (the cache, else its canonical URL)."""


class SplitData(DataConfig):
    """Data with train and test examples that a study may cut (the first N of each)."""

    train_subset: int | None = Field(None, ge=1)
    """Use only the first N training examples (None: all)."""
    test_subset: int | None = Field(None, ge=1)
    """Use only the first N test examples (None: all)."""


def describe_fields(cfg: BaseModel, prefix: str = "") -> list[tuple[str, str, Any, Any, str]]:
    """One row per leaf field: (dotted key, type, value, default, description), nested sections
    (such as ``data``) flattened."""
    rows = []
    for name, info in type(cfg).model_fields.items():
        value = getattr(cfg, name)
        key = f"{prefix}{name}"
        if isinstance(value, BaseModel):
            rows += describe_fields(value, key + ".")
            continue
        default = info.get_default(call_default_factory=True)
        rows.append((key, _type_name(info.annotation), value, default, " ".join((info.description or "").split())))
    return rows


def _type_name(annotation) -> str:
    text = getattr(annotation, "__name__", None) if getattr(annotation, "__args__", None) is None else None
    text = text or str(annotation)
    for junk in ("typing.", "<class '", "'>", "NoneType"):
        text = text.replace(junk, "None" if junk == "NoneType" else "")
    # a constrained item type shows as its type (the bounds are in the field's docstring and errors)
    return re.sub(r"Annotated\[([\w.]+), [^\[\]]*(?:\[[^\[\]]*\][^\[\]]*)*\]", r"\1", text)


def _flatten(d: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {}
    for k, v in d.items():
        key = f"{prefix}{k}"
        if isinstance(v, dict):
            out.update(_flatten(v, key + "."))
        out[key] = v
    return out


def valid_keys(cfg: BaseModel) -> list[str]:
    return sorted(_flatten(cfg.model_dump()).keys())


def parse_set(items: list[str] | None) -> dict[str, Any]:
    """``["a.b=1", "c=[1,2]"]`` -> ``{"a.b": 1, "c": [1, 2]}``."""
    out: dict[str, Any] = {}
    for item in items or []:
        if "=" not in item:
            raise DltourError(f"--set expects key=value, got {item!r}")
        key, raw = item.split("=", 1)
        key = key.strip()
        try:
            value = yaml.safe_load(raw) if raw.strip() != "" else ""
        except yaml.YAMLError:
            value = raw
        out[key] = value
    return out


def suggest_keys(key: str, keys: list[str]) -> list[str]:
    """The keys a user most likely meant: the same name moved into a section (``corpus`` ->
    ``data.corpus``), else keys whose name starts with the same first word (a renamed key:
    ``<word>_limit`` -> ``data.<word>_subset``, a misspelt ``batch_szie``), else close spellings."""
    leaf = key.rsplit(".", 1)[-1]
    moved = [k for k in keys if k.rsplit(".", 1)[-1] == leaf]
    if moved:
        return moved
    word = leaf.split("_")[0]
    same_word = [k for k in keys if "_" in leaf and k.rsplit(".", 1)[-1].startswith(word + "_")]
    if same_word:
        return same_word[:3]
    return difflib.get_close_matches(key, keys, n=3, cutoff=0.5)


def apply_overrides(cfg: BaseModel, overrides: dict[str, Any], origin: str = "--set") -> BaseModel:
    """Return a copy of ``cfg`` with dotted ``overrides`` applied and validated."""
    data = cfg.model_dump()
    keys = valid_keys(cfg)
    for key, value in overrides.items():
        if key not in keys:
            close = suggest_keys(key, keys)
            hint = f"; did you mean {', '.join(close)}?" if close else f"; valid keys: {', '.join(keys)}"
            raise DltourError(f"unknown config key {key!r} in {origin}{hint}")
        node = data
        parts = key.split(".")
        for p in parts[:-1]:
            node = node[p]
        node[parts[-1]] = value
    try:
        return type(cfg).model_validate(data)
    except ValidationError as e:
        err = e.errors()[0]
        loc = ".".join(str(x) for x in err["loc"])
        bad = err.get("input")
        raise DltourError(f"invalid value {bad!r} for {loc} in {origin}: {err['msg']}") from None


def resolve_config(study, profile: str, overrides: dict[str, Any] | None = None,
                   origin: str = "--set") -> BaseModel:
    """Defaults -> profile overrides -> user overrides (``origin`` names them in errors)."""
    if profile not in PROFILES:
        close = difflib.get_close_matches(profile, PROFILES, n=1)
        hint = f"; did you mean {close[0]}?" if close else ""
        raise DltourError(f"unknown profile {profile!r}: choose one of {', '.join(PROFILES)}{hint}")
    cfg = study.Config()
    cfg = apply_overrides(cfg, study.profiles.get(profile, {}), origin=f"profile {profile}")
    if overrides:
        cfg = apply_overrides(cfg, overrides, origin=origin)
    return cfg


def load_config_file(path: str | Path) -> dict[str, Any]:
    """A ``--config`` file as a mapping: TOML (``.toml``) or YAML (``.yaml``/``.yml``, and any
    other name). One-line :class:`DltourError` for a missing, unreadable or malformed file."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise DltourError(f"--config {path}: no such file") from None
    except (OSError, UnicodeDecodeError) as e:
        raise DltourError(f"--config {path}: cannot read it ({' '.join(str(e).split())})") from None
    if path.suffix.lower() == ".toml":
        try:
            import tomllib
        except ImportError:  # Python 3.10
            try:
                import tomli as tomllib
            except ImportError:
                raise DltourError(f"--config {path}: TOML needs Python 3.11+ or `pip install tomli`; "
                                  "or write the file as YAML") from None
        try:
            data = tomllib.loads(text)
        except tomllib.TOMLDecodeError as e:
            raise DltourError(f"--config {path}: not valid TOML ({' '.join(str(e).split())})") from None
    else:
        try:
            data = yaml.safe_load(text)
        except yaml.YAMLError as e:
            raise DltourError(f"--config {path}: not valid YAML ({' '.join(str(e).split())})") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise DltourError(f"--config {path}: expected a mapping of config keys, got {type(data).__name__}")
    return data


def _leaves(d: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    """Nested mappings -> dotted keys of their leaves (``{"data": {"path": x}}`` -> ``data.path``)."""
    out: dict[str, Any] = {}
    for k, v in d.items():
        key = f"{prefix}{k}"
        if isinstance(v, dict) and v:
            out.update(_leaves(v, key + "."))
        else:
            out[key] = v
    return out


def config_file_overrides(path: str | Path, study, studies=()) -> dict[str, Any]:
    """The dotted overrides a ``--config`` file gives ``study``. Top-level keys are config keys
    (nested tables or dotted names: ``[data]`` / ``path = ...`` or ``"data.path" = ...``) for every
    study; a table named after a study (its name or task id, e.g. ``[airline-lstm]`` or
    ``["T2.1"]``) applies to that study only, after the shared keys; other studies' tables are
    ignored (``studies``: every registered study, so that a study added from a script is known
    too; the nine of the reference always are). Unknown keys are named with the file's path."""
    from dltour.claims import TASKS

    data = load_config_file(path)
    sections = set(TASKS) | set(TASKS.values()) | {n for s in studies for n in (s.name, s.task)}
    mine = {study.name, study.task}
    shared = {k: v for k, v in data.items() if k not in sections}
    over = _leaves(shared)
    for name in [k for k in data if k in mine]:
        section = data[name]
        if not isinstance(section, dict):
            raise DltourError(f"--config {path}: [{name}] must be a table of config keys")
        over.update(_leaves(section))
    origin = f"--config {path}"
    keys = valid_keys(study.Config())
    for key in over:
        if key not in keys:
            close = suggest_keys(key, keys)
            hint = f"; did you mean {', '.join(close)}?" if close else f"; valid keys: {', '.join(keys)}"
            raise DltourError(f"unknown config key {key!r} for {study.name} in {origin}{hint}")
    return over


def config_hash(payload: dict[str, Any], n: int = 12) -> str:
    blob = json.dumps(payload, sort_keys=True, default=str).encode()
    return hashlib.sha256(blob).hexdigest()[:n]
