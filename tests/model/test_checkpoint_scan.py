"""The checkpoint scan parses MindSpore's protocol buffer exactly and refuses, before MindSpore
sees the file, anything MindSpore could misread (a crafted file once aborted the whole process
inside MindSpore: packed ``dims`` the old scan misread)."""
import os
import subprocess
import sys
import time

import mindspore as ms
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from fcn4 import CheckpointError
from fcn4.model.checkpoint import read_checkpoint, scan_checkpoint


def varint(n):
    n &= (1 << 64) - 1
    out = bytearray()
    while True:
        byte, n = n & 0x7F, n >> 7
        out.append(byte | (0x80 if n else 0))
        if not n:
            return bytes(out)


def field(number, wire, payload=b"", value=None):
    key = varint(number << 3 | wire)
    if wire == 0:
        return key + varint(value)
    return key + varint(len(payload)) + payload


def tensor(dims, kind, content, packed=False):
    if packed:
        body = field(1, 2, b"".join(varint(d) for d in dims))
    else:
        body = b"".join(field(1, 0, value=d) for d in dims)
    return body + field(2, 2, kind.encode()) + field(3, 2, content)


def entry(tag, tensor_bytes):
    return field(1, 2, field(1, 2, tag.encode()) + field(2, 2, tensor_bytes))


def small_checkpoint(packed=False, rng=None):
    rng = rng or np.random.default_rng(0)
    values = {"conv1.weight": rng.standard_normal((4, 1, 3, 3)).astype(np.float32),
              "bn.gamma": rng.standard_normal((4,)).astype(np.float32),
              "global_step": np.array([7], np.int32)}
    kinds = {np.float32: "Float32", np.int32: "Int32"}
    data = b"".join(entry(name, tensor(v.shape, kinds[v.dtype.type], v.tobytes(), packed)) for name, v in values.items())
    return data, values


CHILD = """import sys
from fcn4.model.checkpoint import read_checkpoint
for path in sys.argv[1:]:
    print(path, flush=True)
    read_checkpoint(path)
print("all loaded")
"""


def load_in_child(paths):
    """Load each file with MindSpore in a fresh process: an abort there cannot take pytest down."""
    return subprocess.run([sys.executable, "-c", CHILD, *map(str, paths)], capture_output=True, text=True,
                          timeout=300, env={**os.environ, "GLOG_v": "3"})


@pytest.mark.parametrize("packed", [False, True])
def test_packed_and_unpacked_dims_are_both_read_as_mindspore_reads_them(tmp_path, packed):
    data, values = small_checkpoint(packed)
    path = tmp_path / "w.ckpt"
    path.write_bytes(data)
    assert scan_checkpoint(path) == {"conv1.weight": ((4, 1, 3, 3), "Float32"), "bn.gamma": ((4,), "Float32"),
                                     "global_step": ((1,), "Int32")}
    loaded = read_checkpoint(path)
    for name, value in values.items():
        np.testing.assert_array_equal(loaded[name].asnumpy(), value)


def test_packed_dims_that_disagree_with_the_content_are_refused_before_mindspore(tmp_path):
    # The hostile case: packed dims, which the old scan took for one dimension (the field's offset).
    data = entry("conv1.weight", tensor((64, 64, 3, 3), "Float32", b"\0" * 17_000, packed=True))
    path = tmp_path / "packed.ckpt"
    path.write_bytes(data)
    with pytest.raises(CheckpointError, match=r"packed\.ckpt.*conv1.weight.*147,456 bytes.*holds 17,000 bytes"):
        scan_checkpoint(path)


def test_a_real_mindspore_checkpoint_with_a_crc_trailer_is_scanned(tmp_path):
    path = tmp_path / "crc.ckpt"
    ms.save_checkpoint([{"name": "w", "data": ms.Tensor(np.ones((3, 2), np.float32))},
                        {"name": "epoch", "data": ms.Tensor(3, ms.int64)}], str(path), crc_check=True)
    assert scan_checkpoint(path) == {"w": ((3, 2), "Float32"), "epoch": ((), "Int64")}


def test_a_tensor_in_slices_is_joined_as_mindspore_joins_it(tmp_path):
    value = np.arange(12, dtype=np.float32).reshape(3, 4)
    raw = value.tobytes()
    path = tmp_path / "slices.ckpt"
    path.write_bytes(entry("w", tensor((3, 4), "Float32", raw[:16])) + entry("w", tensor((3, 4), "Float32", raw[16:])))
    assert scan_checkpoint(path) == {"w": ((3, 4), "Float32")}
    np.testing.assert_array_equal(read_checkpoint(path)["w"].asnumpy(), value)
    path.write_bytes(entry("w", tensor((3, 4), "Float32", raw)) + entry("b", tensor((1,), "Float32", raw[:4]))
                     + entry("w", tensor((3, 4), "Float32", raw)))
    with pytest.raises(CheckpointError, match="'w'.*appears twice"):
        scan_checkpoint(path)


HOSTILE = {
    "negative dimension": entry("w", tensor((-1, 4), "Float32", b"")),
    "a dimension of zero": entry("w", tensor((0, 4), "Float32", b"")),
    "an 11-byte varint": field(1, 2, field(1, 2, b"w") + field(2, 2, b"\x08" + b"\xff" * 10 + b"\x01"
                                                               + field(2, 2, b"Float32") + field(3, 2, b""))),
    "a 10th varint byte above 1": field(1, 2, field(1, 2, b"w") + field(2, 2, b"\x08" + b"\xff" * 9 + b"\x02"
                                                                        + field(2, 2, b"Float32") + field(3, 2, b""))),
    "a length past the end": b"\x0a\xff\xff\x03" + b"\0" * 20,
    "a string entry": entry("w", tensor((1,), "str", b"abcd")),
    "a complex entry": entry("w", tensor((1,), "Complex64", b"\0" * 8)),
    "a map tensor": field(1, 2, field(1, 2, b"w") + field(3, 2, b"")),
    "no tensor": field(1, 2, field(1, 2, b"w")),
    "no name": field(1, 2, field(2, 2, tensor((1,), "Float32", b"\0" * 4))),
    "a tensor without content": field(1, 2, field(1, 2, b"w") + field(2, 2, field(1, 0, value=1)
                                                                        + field(2, 2, b"Float32"))),
    "an unknown field": entry("w", tensor((1,), "Float32", b"\0" * 4)) + field(9, 0, value=1),
    "two types": entry("w", tensor((1,), "Float32", b"\0" * 4) + field(2, 2, b"Int32")),
    "a name that is not UTF-8": field(1, 2, field(1, 2, b"\xff\xfe") + field(2, 2, tensor((1,), "Float32", b"\0" * 4))),
    "a group wire type": b"\x0b\x0c",
    "field number zero": b"\x02\x00",
    "too many dimensions": entry("w", tensor((1,) * 40, "Float32", b"\0" * 4, packed=True)),
    "a scalar with no bytes": entry("w", tensor((0,), "Float32", b"")),
}


@pytest.mark.parametrize("case", sorted(HOSTILE))
def test_malformed_checkpoints_are_checkpoint_errors_naming_file_and_entry(tmp_path, case):
    path = tmp_path / "hostile.ckpt"
    path.write_bytes(HOSTILE[case])
    with pytest.raises(CheckpointError, match=r"hostile\.ckpt.*entry") as info:
        scan_checkpoint(path)
    assert "Traceback" not in str(info.value)


@pytest.mark.slow
def test_every_refused_hostile_case_would_not_have_harmed_mindspore_and_accepted_ones_load(tmp_path):
    """What the scan accepts MindSpore loads (checked in a child process, where an abort shows as a signal)."""
    paths = []
    for packed in (False, True):
        path = tmp_path / f"good-{packed}.ckpt"
        path.write_bytes(small_checkpoint(packed)[0])
        paths.append(path)
    done = load_in_child(paths)
    assert done.returncode == 0 and "all loaded" in done.stdout, done.stderr[-2000:]


def test_too_many_entries_are_refused_early_in_flat_memory(tmp_path):
    one = entry("x", tensor((1,), "Float32", b"\0" * 4))
    path = tmp_path / "many.ckpt"
    path.write_bytes(b"".join(entry(f"x{i}", tensor((1,), "Float32", b"\0" * 4)) for i in range(200_000)))
    began = time.perf_counter()
    with pytest.raises(CheckpointError, match=r"more than 4,096 entries.*FCN4_LIMIT_CHECKPOINT_ENTRIES"):
        scan_checkpoint(path)
    assert time.perf_counter() - began < 2.0
    assert len(one) < 30


def test_the_entry_limit_and_the_name_limit_can_be_set(tmp_path, monkeypatch):
    path = tmp_path / "w.ckpt"
    path.write_bytes(small_checkpoint()[0])
    monkeypatch.setenv("FCN4_LIMIT_CHECKPOINT_ENTRIES", "2")
    with pytest.raises(CheckpointError, match="more than 2 entries"):
        scan_checkpoint(path)
    monkeypatch.delenv("FCN4_LIMIT_CHECKPOINT_ENTRIES")
    path.write_bytes(entry("n" * 5000, tensor((1,), "Float32", b"\0" * 4)))
    with pytest.raises(CheckpointError, match=r"5,000 bytes long.*FCN4_LIMIT_CHECKPOINT_NAME_BYTES"):
        scan_checkpoint(path)


def _mutated():
    """Valid small checkpoints (dims packed or not), then a few byte-level mutations."""
    base = st.booleans().map(lambda packed: small_checkpoint(packed)[0])
    edit = st.tuples(st.sampled_from(["flip", "insert", "delete", "set", "truncate", "varint"]),
                     st.integers(0, 10_000), st.integers(0, 255), st.integers(1, 12))

    def apply(data, edits):
        data = bytearray(data)
        for op, where, byte, n in edits:
            i = where % (len(data) + 1)
            if op == "flip" and i < len(data):
                data[i] ^= 1 << (byte % 8)
            elif op == "insert":
                data[i:i] = bytes([byte]) * n
            elif op == "delete":
                del data[i:i + n]
            elif op == "set" and i < len(data):
                data[i] = byte
            elif op == "truncate":
                del data[i:]
            elif op == "varint":
                data[i:i + 1] = b"\xff" * n + bytes([byte & 0x7F])
        return bytes(data)

    return st.one_of(st.builds(apply, base, st.lists(edit, min_size=1, max_size=4)), st.binary(max_size=300))


@pytest.mark.slow
def test_any_mutated_checkpoint_is_refused_by_the_scan_or_loads_in_mindspore(tmp_path):
    """Random and mutated bytes: a CheckpointError (never another exception), or the scan passes and
    MindSpore then loads the file (in a child process, so that an abort would show)."""
    accepted = []

    @settings(max_examples=400, deadline=None, derandomize=True, database=None,
              suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
    @given(_mutated())
    def scan(data):
        path = tmp_path / f"m{len(accepted)}.ckpt"
        path.write_bytes(data)
        try:
            scan_checkpoint(path)
        except CheckpointError as exc:
            assert str(path) in str(exc)
            return
        accepted.append(path)

    scan()
    assert accepted, "no mutation kept a valid file: the property would be empty"
    done = load_in_child(accepted)
    assert done.returncode == 0 and "all loaded" in done.stdout, (
        f"rc {done.returncode}; last file tried: {done.stdout.splitlines()[-1:]}\n{done.stderr[-3000:]}")
