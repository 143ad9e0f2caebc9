"""One module per engine (sqlglot-style): each provides an EntryParser subclass."""
from __future__ import annotations

import importlib

_ENGINES = {
    "mysql": ("mysql", "MySQLSlowLogParser"),
    "postgres": ("postgres", "PostgresLogParser"),
    "redis": ("redis", "RedisSlowLogParser"),
}
#: The engines this package reads, in the order the CLI and the docs list them (the one home of
#: the engine list: resources, the CLI and the event schema's docs refer to it).
ENGINES: tuple[str, ...] = tuple(_ENGINES)


def get_engine(name: str):
    try:
        module, cls = _ENGINES[name]
    except KeyError:
        raise ValueError(f"unknown engine {name!r} (expected one of {', '.join(_ENGINES)})") from None
    try:
        mod = importlib.import_module(f"{__name__}.{module}")
    except ModuleNotFoundError:
        raise ValueError(f"engine {name!r} is not available yet") from None
    return getattr(mod, cls)
