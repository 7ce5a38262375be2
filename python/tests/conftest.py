"""Fixtures shared by the binding's tests: `ctx`, one context per device the tests run on
(the host always, opencl:0 where a driver provides it; skipped with the reason
otherwise), and `host`, a host context."""
import numpy as np
import pytest

import clt


def _opencl_present():
    return any(d.driver == "opencl" for d in clt.devices())


@pytest.fixture(scope="session")
def host():
    with clt.Context("host") as ctx:
        yield ctx


@pytest.fixture(scope="session", params=["host", "opencl:0"])
def ctx(request):
    if request.param.startswith("opencl") and not _opencl_present():
        pytest.skip("no OpenCL device (install pocl-opencl-icd for a CPU one)")
    with clt.Context(request.param) as c:
        yield c


@pytest.fixture
def rng():
    return np.random.default_rng(1234)
