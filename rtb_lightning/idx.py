"""The IDX file format (MNIST's): a magic number giving the element type and rank, big-endian int32
dimensions, then the raw array. Read from plain or gzip files; written by the tests' fixtures."""
import gzip
import struct
from pathlib import Path

import numpy as np
import torch

from .errors import UserError

DTYPES = {0x08: np.uint8, 0x09: np.int8, 0x0B: np.dtype(">i2"), 0x0C: np.dtype(">i4"), 0x0D: np.dtype(">f4"),
          0x0E: np.dtype(">f8")}


def _open(path):
    path = Path(path)
    return gzip.open(path, "rb") if path.suffix == ".gz" else open(path, "rb")


def read_idx(path) -> torch.Tensor:
    try:
        with _open(path) as f:
            raw = f.read()
    except (OSError, EOFError) as e:
        raise UserError(f"cannot read IDX file {path}: {e}", "check the file (a gzip or plain IDX file)") from None
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0 or raw[2] not in DTYPES:
        raise UserError(f"{path} is not an IDX file (bad magic number)", "expected MNIST-style *-idx?-ubyte[.gz] files")
    dtype, ndim = np.dtype(DTYPES[raw[2]]), raw[3]
    head = 4 + 4 * ndim
    if len(raw) < head:
        raise UserError(f"{path}: truncated IDX header", "re-download or re-copy the file")
    dims = struct.unpack(f">{ndim}I", raw[4:head])
    count = int(np.prod(dims)) if dims else 1
    if len(raw) - head != count * dtype.itemsize:
        raise UserError(f"{path}: IDX header says {dims} ({count * dtype.itemsize} bytes) but the file has "
                        f"{len(raw) - head} bytes of data", "the file is truncated or corrupt")
    arr = np.frombuffer(raw, dtype=dtype, count=count, offset=head).reshape(dims)
    return torch.from_numpy(arr.astype(arr.dtype.newbyteorder("=")).copy())


def write_idx(array, path):
    arr = np.asarray(array)
    code = {np.dtype(np.uint8): 0x08, np.dtype(np.int8): 0x09}.get(arr.dtype)
    if code is None:
        raise ValueError(f"write_idx supports uint8/int8 arrays, got {arr.dtype}")
    data = bytes([0, 0, code, arr.ndim]) + struct.pack(f">{arr.ndim}I", *arr.shape) + arr.tobytes()
    path = Path(path)
    with (gzip.open(path, "wb") if path.suffix == ".gz" else open(path, "wb")) as f:
        f.write(data)
