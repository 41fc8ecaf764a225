"""Durable storage: the JSON codec with type tags, and the backends built on it."""

from __future__ import annotations

__all__: list[str] = []
