"""The suite's own arrangement: under ``make test`` (pytest-xdist, ``--dist loadgroup``) the tests that
start Ray keep to one worker, so that two Rays never share the 2 cores."""
import pytest


@pytest.mark.ray
def test_a_test_that_starts_ray_joins_the_ray_group(request, pytestconfig):
    if not getattr(pytestconfig.option, "loadgroup", False):  # set on the workers of --dist loadgroup
        pytest.skip("not run under pytest-xdist --dist loadgroup")
    # xdist groups by a suffix of the test's id; pytest 9.2 ignores the id xdist 3.8 sets (setup.cfg pins)
    assert request.node.nodeid.endswith("@ray"), request.node.nodeid
