"""Build rnnkit's optional C loops (the extension ``rnnkit._kernels._ckernels``).

Everything else about the package lives in pyproject.toml. The extension is
optional twice over: a failed build leaves a working pure-NumPy install (with
a notice in the build log), and rnnkit checks at import time that it can use
it (``rnnkit._kernels``). Set RNNKIT_BUILD_C=0 to skip the build.
"""

import glob
import os
import sys

from setuptools import Extension, setup
from setuptools.command.build_ext import build_ext

UNIX_FLAGS = [
    "-O3",
    # lets GCC if-convert the branch-free activations of the gate loops into vector code
    "-fno-trapping-math",
]


class OptionalBuildExt(build_ext):
    """build_ext whose failure is a notice, never a failed install."""

    def build_extensions(self):
        if self.compiler.compiler_type in ("unix", "mingw32", "cygwin"):
            for ext in self.extensions:
                ext.extra_compile_args = UNIX_FLAGS + list(ext.extra_compile_args or [])
        super().build_extensions()

    def run(self):
        try:
            super().run()
        except Exception as exc:  # no compiler, missing headers, ...: fall back to the NumPy loops
            print(f"rnnkit: not building the optional C loops ({exc}); the NumPy loops will be used", file=sys.stderr)


ext_modules = []
if os.environ.get("RNNKIT_BUILD_C", "1") != "0":
    ext_modules.append(
        Extension(
            "rnnkit._kernels._ckernels",
            sources=["rnnkit/_kernels/_ckernels.c"],
            depends=sorted(glob.glob("rnnkit/_kernels/*.h")),  # included by the .c; listed so sdists carry them
            optional=True,
        )
    )

setup(ext_modules=ext_modules, cmdclass={"build_ext": OptionalBuildExt})
