"""Secrets never show in a resource's repr/str (pydantic builds both from __repr_args__)."""
from __future__ import annotations

from typing import Iterable, Iterator

AWS_SECRET_FIELDS = frozenset({"aws_access_key_id", "aws_secret_access_key", "aws_session_token"})


def mask_secrets(args: Iterable[tuple[str | None, object]], secret_fields) -> Iterator[tuple[str | None, object]]:
    """pydantic's __repr_args__ pairs, with the value of every set secret field shown as ***."""
    for key, value in args:
        yield key, ("***" if key in secret_fields and value is not None else value)
