"""Job functions for the task-queue library tests: workers import them by name."""
from __future__ import annotations


def add(a: int, b: int) -> int:
    return a + b


def fail(message: str) -> None:
    raise ValueError(message)
