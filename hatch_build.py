"""Compile statetrail.frozen._speedups, or build pure Python with a warning.

A hatchling build hook: ``pip install -e .`` compiles the C file in place next to
its source (the editable install imports from ``src/``), a wheel gets the
compiled module in the package. With no C compiler or no Python headers the
build goes on without it and says so; statetrail then runs its pure-Python code,
which is the reference (``statetrail/frozen/_native.py``). The compiler is
called directly with the flags Python itself was built with (``sysconfig``),
which needs neither setuptools nor anything else in the build environment.

``python hatch_build.py`` compiles in place, for a checkout run with
``PYTHONPATH=src``; ``STATETRAIL_PURE_BUILD=1`` skips the compiler.
"""

from __future__ import annotations

import os
import shlex
import subprocess
import sys
import sysconfig
import tempfile
from pathlib import Path
from typing import Any

ROOT = Path(__file__).parent
SOURCE = ROOT / "src" / "statetrail" / "frozen" / "_speedups.c"
MODULE = "statetrail/frozen/_speedups"


def compile_to(target: Path) -> str | None:
    """Compile the extension into ``target``; ``None``, or why it could not be."""
    if os.environ.get("STATETRAIL_PURE_BUILD", "") not in ("", "0"):
        return "STATETRAIL_PURE_BUILD is set"
    include = sysconfig.get_paths()["include"]
    if not (Path(include) / "Python.h").exists():
        return f"no Python headers in {include}"
    ldshared = sysconfig.get_config_var("LDSHARED") or "cc -shared"
    ccshared = sysconfig.get_config_var("CCSHARED") or "-fPIC"
    command = [
        *shlex.split(ldshared),
        *shlex.split(ccshared),
        "-O2",
        "-std=c99",
        "-Wall",
        "-Werror=implicit-function-declaration",
        f"-I{include}",
        str(SOURCE),
        "-o",
        str(target),
    ]
    target.parent.mkdir(parents=True, exist_ok=True)
    try:
        # The compiler Python was built with, on our own source file.
        done = subprocess.run(  # noqa: S603
            command, capture_output=True, text=True, check=False
        )
    except OSError as exc:
        return f"no C compiler ({exc})"
    if done.returncode != 0:
        return f"the compiler failed:\n{done.stderr.strip()}"
    return None


def extension_name() -> str:
    """The extension's file name under ``src/``, as this Python imports it."""
    return MODULE + (sysconfig.get_config_var("EXT_SUFFIX") or ".so")


try:
    from hatchling.builders.hooks.plugin.interface import BuildHookInterface
except ImportError:  # run as a script, outside a build
    BuildHookInterface = object  # type: ignore[assignment,misc]


class SpeedupsHook(BuildHookInterface):  # type: ignore[misc,valid-type]
    """Compile ``_speedups`` for wheels and editable installs."""

    PLUGIN_NAME = "custom"

    def initialize(self, version: str, build_data: dict[str, Any]) -> None:
        """Add the compiled module to the build, or warn and stay pure."""
        if self.target_name != "wheel":
            return
        name = extension_name()
        if version == "editable":
            target = ROOT / "src" / name
        else:
            target = Path(tempfile.mkdtemp(prefix="statetrail-build-")) / name
        problem = compile_to(target)
        if problem is not None:
            self.app.display_warning(
                "statetrail: building without the compiled speedups "
                f"(pure Python, slower): {problem}"
            )
            return
        build_data["pure_python"] = False
        build_data["infer_tag"] = True
        if version != "editable":
            build_data["force_include"][str(target)] = name


if __name__ == "__main__":
    out = ROOT / "src" / extension_name()
    why = compile_to(out)
    if why is not None:
        sys.exit(f"not compiled: {why}")
    print(f"compiled {out.relative_to(ROOT)}")
