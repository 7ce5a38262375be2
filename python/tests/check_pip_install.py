"""`pip install ./python` works offline (Debian's pip and setuptools, no build isolation,
no index) and the installed package finds libclt: through CLT_LIBRARY, and as a copy
placed next to the package. Exits 77 (skipped) when pip or setuptools is missing.

usage: check_pip_install.py PYTHON_SOURCE_DIR SCRATCH_DIR LIBCLT"""
import importlib.util
import os
import shutil
import subprocess
import sys

SKIP = 77

SMOKE = """
import os, sys, numpy as np, clt
assert clt.__file__.startswith(sys.argv[1]), clt.__file__
print("loaded", clt.library_path)
assert os.path.realpath(clt.library_path) == os.path.realpath(sys.argv[2]), clt.library_path
with clt.Context("host") as ctx:
    a = np.arange(12, dtype=np.float32).reshape(3, 4)
    c = np.zeros((3, 3), np.float32)
    clt.gemm(ctx, a, a, c, trans_b=True)
    assert np.allclose(c, a @ a.T), c
print("ok")
"""


def run(cmd, env=None, cwd=None):
    print("+", " ".join(cmd), flush=True)
    return subprocess.run(cmd, env=env, cwd=cwd).returncode


def main():
    src, scratch, lib = sys.argv[1:4]
    for module in ("pip", "setuptools"):
        if importlib.util.find_spec(module) is None:
            print(f"skipped: {sys.executable} has no {module} "
                  f"(apt-get install python3-{module})")
            return SKIP
    shutil.rmtree(scratch, ignore_errors=True)
    # pip builds in the source tree: build from a copy so the checkout stays clean.
    pkg = os.path.join(scratch, "src")
    shutil.copytree(src, pkg, ignore=shutil.ignore_patterns(
        "tests", "bench", "build", "*.egg-info", "__pycache__", "CMakeLists.txt"))
    target = os.path.join(scratch, "target")
    if run([sys.executable, "-m", "pip", "install", "--no-deps", "--no-build-isolation",
            "--no-index", "--disable-pip-version-check", "--target", target, pkg]) != 0:
        print("FAIL: pip install")
        return 1
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "CLT_LIBRARY")}
    env["PYTHONPATH"] = target
    env["PYTHONDONTWRITEBYTECODE"] = "1"
    # 1. CLT_LIBRARY names the library
    if run([sys.executable, "-c", SMOKE, target, lib], dict(env, CLT_LIBRARY=lib),
           cwd=scratch) != 0:
        print("FAIL: the installed package with CLT_LIBRARY")
        return 1
    # 2. a copy next to the package is found without it
    beside = os.path.join(target, "clt", "libclt.so.0")
    shutil.copy(lib, beside)
    if run([sys.executable, "-c", SMOKE, target, beside], env, cwd=scratch) != 0:
        print("FAIL: the installed package with libclt next to it")
        return 1
    print("ok: pip install ./python")
    return 0


if __name__ == "__main__":
    sys.exit(main())
