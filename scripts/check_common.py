"""Helpers shared by the full-size check scripts (scripts/check_full_*.py; not run by CI)."""
import os
import subprocess
import sys

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), ".."))


def compile_driver(build, source, out):
    """Compiles tools/check/<source> against <build>/libedgefusion.a into out, with the
    Makefile's flags and libraries."""
    lib = os.path.join(ROOT, build, "libedgefusion.a")
    if not os.path.exists(lib):
        sys.exit(f"{lib} not found: run `make BUILD={build} {build}/libedgefusion.a` first")

    def pc(what):
        return subprocess.run(["pkg-config", what, "libcjson", "libutf8proc", "libpng", "libcrypto"],
                              check=True, capture_output=True, text=True).stdout.split()

    cmd = (["cc", "-std=c11", "-D_POSIX_C_SOURCE=200809L", "-O2", "-Wall", "-Wextra",
            "-I" + os.path.join(ROOT, "include"), "-I" + os.path.join(ROOT, "src")] + pc("--cflags") +
           [os.path.join(ROOT, "tools", "check", source), lib] + pc("--libs") + ["-lpthread", "-lm", "-o", out])
    subprocess.run(cmd, check=True)
