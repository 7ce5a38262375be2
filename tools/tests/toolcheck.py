"""What the tools' contract checks (check_clt_*.py) share: running a tool and failing
with everything it printed."""
import subprocess
import sys


def run(binary, *args, timeout=240):
    # errors="replace": a tool may print bytes that are not UTF-8 (cltrain samples bytes)
    return subprocess.run([binary, *args], capture_output=True, text=True, errors="replace",
                          timeout=timeout)


def fail(message, result=None):
    print("FAIL:", message, file=sys.stderr)
    if result is not None:
        print("exit status:", result.returncode, file=sys.stderr)
        print("--- stdout ---\n" + result.stdout, file=sys.stderr)
        print("--- stderr ---\n" + result.stderr, file=sys.stderr)
    sys.exit(1)
