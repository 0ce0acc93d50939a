"""The .npy reader the training pipeline's threads use (numpy.load's header parser is not thread-safe
on CPython 3.11 before 3.11.8): every plain array np.save writes comes back equal; any other file is
a ValueError naming it, never another exception or a wrong array."""
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from fcn4.base.npy import load_npy

_DTYPES = st.sampled_from(["<f4", "<f8", ">f4", "<i8", "<i4", "|u1", "|b1", "<u2"])


@settings(max_examples=60, deadline=None)
@given(hnp.arrays(_DTYPES, hnp.array_shapes(min_dims=0, max_dims=4, min_side=0, max_side=6)), st.booleans())
def test_every_array_np_save_writes_loads_back_equal(tmp_path_factory, array, fortran):
    path = tmp_path_factory.mktemp("npy") / "a.npy"
    np.save(path, np.asfortranarray(array) if fortran and array.ndim else array, allow_pickle=False)
    loaded = load_npy(path)
    assert loaded.dtype == array.dtype and loaded.shape == array.shape
    assert np.array_equal(loaded, array, equal_nan=array.dtype.kind == "f")


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=300), st.integers(0, 300))
def test_a_damaged_file_is_a_value_error_naming_it_or_loads_as_numpy_reads_it(tmp_path_factory, tail, cut):
    path = tmp_path_factory.mktemp("npy") / "a.npy"
    np.save(path, np.ones((3, 4), np.float32))
    path.write_bytes(path.read_bytes()[:cut] + tail)
    try:
        loaded = load_npy(path)
    except ValueError as exc:
        assert str(path) in str(exc)
    else:  # only what NumPy itself reads as a whole file loads, and as NumPy reads it
        with open(path, "rb") as f:
            expected = np.load(f, allow_pickle=False)
            assert f.read() == b""
        assert loaded.dtype == expected.dtype and np.array_equal(loaded, expected, equal_nan=True)


@pytest.mark.parametrize("array", [np.array([{"a": 1}], dtype=object), np.zeros(2, dtype="U3"),
                                   np.zeros(2, dtype=[("x", "<f4")])])
def test_objects_text_and_records_are_refused(tmp_path, array):
    path = tmp_path / "a.npy"
    np.save(path, array, allow_pickle=True)
    with pytest.raises(ValueError, match="header this reader does not take"):
        load_npy(path)


def test_a_header_claiming_more_than_the_limit_is_refused_before_reading(tmp_path):
    path = tmp_path / "a.npy"
    np.save(path, np.zeros((4, 4), np.float32))
    with pytest.raises(ValueError, match="over the limit of 32"):
        load_npy(path, max_bytes=32)

