"""Reading, overriding and saving the one typed configuration of a MirrorNet experiment.

The schema — the four sections ``data``, ``model``, ``train`` and ``eval`` and the checks of their
values — is :mod:`mirrornet.config_schema`; every name of it is importable from here too.

Configs are YAML files. A file may name a base file with ``extends: base.yaml`` (relative to the
file; a list is applied left to right) and then overrides only what differs: a section merges key
by key, any other value (a list, or a mapping such as ``model.vae_widths``) replaces the base's
whole. Command-line overrides ``key=value`` use dotted keys (``train.lr=5e-4``) and are
type-checked: an unknown key is an error listing the valid keys of its section, and a value of
the wrong type names key and value. The resolved config is a dict of primitives
(:meth:`Config.to_dict`), saved with every run and inside every checkpoint so that a checkpoint
rebuilds its model alone.
"""

from __future__ import annotations

import dataclasses
import types
import typing
from collections.abc import Callable
from pathlib import Path
from typing import Any, Union

import yaml

from mirrornet.config_schema import (
    Config,
    ConfigError,
    DataConfig,
    EpochsConfig,
    StepsConfig,
    EvalConfig,
    ModelConfig,
    TrainConfig,
)
from mirrornet.fileio import write_text_atomic

__all__ = [
    "ConfigError",
    "DataConfig",
    "ModelConfig",
    "EpochsConfig",
    "StepsConfig",
    "TrainConfig",
    "EvalConfig",
    "Config",
    "load_config",
    "config_from_dict",
    "save_config",
    "parse_yaml",
]


def load_config(path: str | Path | None, overrides: list[str] | None = None) -> Config:
    """Read a YAML config (following ``extends:``), apply ``key=value`` overrides, validate.

    Args:
        path: a YAML file, or None for the defaults.
        overrides: dotted ``key=value`` strings; values are parsed as YAML scalars/lists
            (``train.lr=5e-4``, ``data.input_size=[64,64]``, ``train.max_steps_per_epoch=null``).

    Returns:
        The validated config.

    Raises:
        ConfigError: unreadable file, unknown key (the message lists the valid ones), wrong type
            (the message names key and value), or an invalid value.
    """
    raw: dict[str, Any] = {} if path is None else _read_yaml_with_extends(Path(path), ())
    for item in overrides or []:
        keys, value = _parse_override(item)
        _set_dotted(raw, keys, value)
    return config_from_dict(raw)


def config_from_dict(raw: dict[str, Any]) -> Config:
    """Build and validate a :class:`Config` from nested dicts (missing keys take defaults).

    Raises:
        ConfigError: unknown key or wrong type, naming the dotted key.
    """
    if not isinstance(raw, dict):
        raise ConfigError(f"a config must be a mapping, got {type(raw).__name__}")
    return _build(Config, raw, "").validate()


def save_config(config: Config, path: str | Path) -> None:
    """Write the resolved config as YAML (atomically: :func:`mirrornet.fileio.write_text_atomic`)."""
    write_text_atomic(path, yaml.safe_dump(config.to_dict(), sort_keys=False))


def _parse_override(item: str) -> tuple[list[str], Any]:
    """``key=value`` as (the dotted key's parts, the value parsed as YAML; an empty value is null)."""
    if "=" not in item:
        raise ConfigError(f"override {item!r} is not of the form key=value")
    key, text = item.split("=", 1)
    key = key.strip()
    if not key:
        raise ConfigError(f"override {item!r} has an empty key")
    try:
        value = yaml.safe_load(text) if text.strip() else None
    except yaml.YAMLError as exc:
        raise ConfigError(f"override {item!r}: cannot parse value {text!r}: {exc}") from None
    except RecursionError:
        raise ConfigError(f"override {key!r}: its value is nested too deeply to be a config value") from None
    except ValueError:  # Python's limit on the digits of an int (4300)
        raise ConfigError(f"override {key!r}: its value is a number of {len(text.strip())} characters, "
                          "too long to be a config value") from None
    return key.split("."), value


def _read_yaml_with_extends(path: Path, seen: tuple[Path, ...]) -> dict[str, Any]:
    path = path.expanduser()
    if path.is_dir():
        raise ConfigError(f"config file {path} is a folder, not a YAML file")
    if not path.is_file():
        raise ConfigError(f"config file not found: {path}")
    resolved = path.resolve()
    if resolved in seen:
        chain = " -> ".join(str(p) for p in (*seen, resolved))
        raise ConfigError(f"config files extend each other in a cycle: {chain}")
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise ConfigError(
            f"config file {path} is not UTF-8 text (byte 0x{exc.object[exc.start]:02x} at offset {exc.start}); "
            "save it as UTF-8"
        ) from None
    except OSError as exc:
        raise ConfigError(f"cannot read config file {path}: {exc.strerror or exc}") from None
    raw = parse_yaml(text, f"config file {path}")
    if raw is None:
        # An empty file (or only comments / `null`) is almost always a mistake (a wrong path, a
        # truncated copy); silently training with the paper-size defaults would hide it.
        raise ConfigError(f"config file {path} is empty (no settings); give at least one section, e.g. 'data:'")
    if not isinstance(raw, dict):
        raise ConfigError(f"config file {path} must hold a mapping, got {type(raw).__name__}")
    bases = raw.pop("extends", None)
    merged: dict[str, Any] = {}
    if bases is not None:
        for base in _extends_entries(path, bases):
            base_path = Path(base)
            if not base_path.is_absolute():
                base_path = path.parent / base_path
            merged = _merge(merged, _read_yaml_with_extends(base_path, (*seen, resolved)), Config)
    return _merge(merged, raw, Config)


class _StrictLoader(yaml.SafeLoader):
    """PyYAML's safe loader, refusing a key that a mapping holds twice (PyYAML keeps the last)."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict:
        """Build a mapping; raise a ``ConstructorError`` at the second of two equal keys."""
        seen: dict[Any, int] = {}
        for key_node, _ in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge":
                continue  # ``<<: *base`` merges a mapping whose keys this one may override
            key = self.construct_object(key_node, deep=True)
            try:
                first = seen.get(key)
            except TypeError:
                continue  # an unhashable key: PyYAML's own error names it
            if first is not None:
                raise yaml.constructor.ConstructorError(
                    None, None, f"duplicate key {key!r} (first on line {first}); a key may appear once",
                    key_node.start_mark,
                )
            seen[key] = key_node.start_mark.line + 1
        return super().construct_mapping(node, deep=deep)


def parse_yaml(text: str, what: str) -> Any:
    """Parse YAML ``text`` (safely; a key twice in one mapping is refused).

    Args:
        text: the YAML document.
        what: the file, as messages name it (e.g. ``config file runs/x/config.yaml``).

    Raises:
        ConfigError: one line naming ``what``, the line and column, and the problem: a syntax
            error, a duplicate key, a tag outside plain YAML (``!!python/...``), or a nesting
            deeper than Python's recursion allows.
    """
    try:
        return yaml.load(text, Loader=_StrictLoader)  # noqa: S506 - a SafeLoader subclass
    except yaml.YAMLError as exc:
        # PyYAML's own text spans several lines and calls the file "<unicode string>": the
        # position and the problem say it in one.
        mark = getattr(exc, "problem_mark", None)
        where = f" (line {mark.line + 1}, column {mark.column + 1})" if mark is not None else ""
        problem = (getattr(exc, "problem", None) or str(exc)).splitlines()[0]
        raise ConfigError(f"cannot parse {what}{where}: {problem}") from None
    except RecursionError:
        raise ConfigError(f"cannot parse {what}: it is nested too deeply to be a config") from None
    except ValueError as exc:  # Python's limit on the digits of an int (4300)
        raise ConfigError(f"cannot parse {what}: it holds a number too long to be a config value ({exc})") from None


def _extends_entries(path: Path, bases: Any) -> list[str]:
    """The file names of ``extends:`` in ``path``: one name or a list of names."""
    entries = [bases] if isinstance(bases, str) else bases
    if not isinstance(entries, list):
        raise ConfigError(
            f"config file {path}: 'extends' must be a file name or a list of file names, got {bases!r}"
        )
    for i, entry in enumerate(entries):
        if not isinstance(entry, str) or not entry.strip():
            raise ConfigError(
                f"config file {path}: 'extends' entry {i + 1} must be a file name, got {entry!r}"
            )
    return entries


def _merge(base: dict[str, Any], top: dict[str, Any], schema: type) -> dict[str, Any]:
    """``top`` over ``base``, both raw mappings of the dataclass ``schema``: where ``schema`` has a
    section (a dataclass field) the two merge key by key; any other value of ``top``, a mapping
    included, replaces the base's whole (so a child's ``vae_widths`` is the whole of its widths)."""
    sections = _section_types(schema)
    out = dict(base)
    for key, value in top.items():
        if key in sections and isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = _merge(out[key], value, sections[key])
        else:
            out[key] = value
    return out


def _section_types(schema: type) -> dict[str, type]:
    """The fields of the dataclass ``schema`` that are sections themselves, by name."""
    hints = typing.get_type_hints(schema)
    return {f.name: hints[f.name] for f in dataclasses.fields(schema) if dataclasses.is_dataclass(hints[f.name])}


def _set_dotted(raw: dict[str, Any], keys: list[str], value: Any) -> None:
    node = raw
    for k in keys[:-1]:
        child = node.get(k)
        if not isinstance(child, dict):
            child = {}
            node[k] = child
        node = child
    node[keys[-1]] = value


def _build(cls: type, raw: dict[str, Any], prefix: str) -> Any:
    hints = typing.get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls)}
    unknown = [k for k in raw if k not in fields]
    if unknown:
        where = f"section {prefix[:-1]!r}" if prefix else "the top level"
        raise ConfigError(
            f"unknown config key {prefix + str(unknown[0])!r}; valid keys in {where}: "
            + ", ".join(prefix + name for name in fields)
        )
    kwargs: dict[str, Any] = {}
    for name, value in raw.items():
        key = prefix + name
        hint = hints[name]
        if dataclasses.is_dataclass(hint):
            if value is None:
                value = {}
            if not isinstance(value, dict):
                raise ConfigError(f"config key {key!r} is a section; got the value {value!r}")
            kwargs[name] = _build(hint, value, key + ".")
        else:
            kwargs[name] = _coerce(key, value, hint)
    return cls(**kwargs)


def _type_name(hint: Any) -> str:
    return getattr(hint, "__name__", None) or str(hint).replace("typing.", "")


# The plain scalar types of the schema: whether a YAML value is one (a bool is not an int here,
# although Python's bool is an int subclass), and how a message names it. Floats also take ints.
_SCALARS: dict[Any, tuple[Callable[[Any], bool], str]] = {
    type(None): (lambda v: v is None, "null"),
    bool: (lambda v: isinstance(v, bool), "a bool (true/false)"),
    int: (lambda v: isinstance(v, int) and not isinstance(v, bool), "an int"),
    str: (lambda v: isinstance(v, str), "a string"),
}


def _coerce(key: str, value: Any, hint: Any) -> Any:
    """Check ``value`` against the annotation ``hint``; allow int→float and list→tuple."""
    origin = typing.get_origin(hint)
    args = typing.get_args(hint)
    if origin in (Union, types.UnionType):
        # None first so that `null` selects the optional branch.
        for option in sorted(args, key=lambda a: a is not type(None)):
            try:
                return _coerce(key, value, option)
            except ConfigError:
                continue  # the message below names every type the key takes
        expected = " or ".join(_type_name(a) for a in args)
        raise ConfigError(f"config key {key!r} expects {expected}, got {value!r}")
    if hint in _SCALARS:
        accepts, expected = _SCALARS[hint]
        if accepts(value):
            return value
        raise ConfigError(f"config key {key!r} expects {expected}, got {value!r}")
    if hint is float:
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return float(value)
        if isinstance(value, str):
            # YAML 1.1 reads "5e-4" (no dot) as a string.
            try:
                return float(value)
            except ValueError:
                pass
        raise ConfigError(f"config key {key!r} expects a float, got {value!r}")
    if origin is tuple:
        if not isinstance(value, (list, tuple)) or len(value) != len(args):
            raise ConfigError(
                f"config key {key!r} expects a list of {len(args)} values, got {value!r}"
            )
        return tuple(_coerce(f"{key}[{i}]", v, a) for i, (v, a) in enumerate(zip(value, args)))
    if origin is list:
        if not isinstance(value, (list, tuple)):
            raise ConfigError(f"config key {key!r} expects a list, got {value!r}")
        return [_coerce(f"{key}[{i}]", v, args[0]) for i, v in enumerate(value)]
    if origin is dict:
        if not isinstance(value, dict):
            raise ConfigError(f"config key {key!r} expects a mapping, got {value!r}")
        return {
            _coerce(f"{key} (a key)", k, args[0]): _coerce(f"{key}.{k}", v, args[1])
            for k, v in value.items()
        }
    raise ConfigError(f"config key {key!r} has an unsupported type {hint}")  # pragma: no cover
