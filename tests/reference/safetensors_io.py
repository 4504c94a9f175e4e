"""Read and write safetensors files with json + struct + numpy only (no `safetensors` package needed).

Format: an 8-byte little-endian header length N, N bytes of JSON {"name": {"dtype", "shape", "data_offsets":
[begin, end]}, ..., "__metadata__": {str: str}}, then the little-endian tensor bytes; offsets are relative to
the end of the header.
"""

import json
import struct

import numpy as np
import torch

_DTYPES = {
    "F64": np.dtype("<f8"), "F32": np.dtype("<f4"), "F16": np.dtype("<f2"),
    "I64": np.dtype("<i8"), "I32": np.dtype("<i4"), "I16": np.dtype("<i2"), "I8": np.dtype("i1"),
    "U8": np.dtype("u1"), "BOOL": np.dtype("?"),
}
_NAMES = {dt: name for name, dt in _DTYPES.items()}


class FormatError(ValueError):
    pass


def read(path):
    """Returns (tensors, metadata): an ordered dict name → torch tensor (in file order) and a dict of strings."""
    with open(path, "rb") as f:
        data = f.read()
    if len(data) < 8:
        raise FormatError("%s: shorter than the 8-byte header length" % path)
    (header_len,) = struct.unpack("<Q", data[:8])
    if header_len > len(data) - 8:
        raise FormatError("%s: header length %d runs past the end of the file" % (path, header_len))
    header = json.loads(data[8:8 + header_len].decode("utf-8"))
    if not isinstance(header, dict):
        raise FormatError("%s: the header is not a JSON object" % path)
    body = memoryview(data)[8 + header_len:]
    metadata = header.pop("__metadata__", None) or {}
    entries = sorted(header.items(), key=lambda kv: kv[1]["data_offsets"][0])
    tensors = {}
    expected_begin = 0
    for name, info in entries:
        dtype = _DTYPES.get(info["dtype"])
        if dtype is None:
            raise FormatError("%s: tensor %s has unknown dtype %s" % (path, name, info["dtype"]))
        shape = [int(s) for s in info["shape"]]
        begin, end = (int(o) for o in info["data_offsets"])
        count = int(np.prod(shape, dtype=np.int64))
        if begin != expected_begin or end - begin != count * dtype.itemsize or end > len(body):
            raise FormatError("%s: tensor %s has bad data_offsets %r" % (path, name, info["data_offsets"]))
        expected_begin = end
        array = np.frombuffer(body[begin:end], dtype=dtype).reshape(shape).copy()
        tensors[name] = torch.from_numpy(array.astype(dtype.newbyteorder("=")))
    if expected_begin != len(body):
        raise FormatError("%s: %d bytes after the last tensor" % (path, len(body) - expected_begin))
    # Back to the order the writer chose for the header (JSON objects keep it when parsed by json).
    ordered = {name: tensors[name] for name in header}
    return ordered, metadata


def write(path, tensors, metadata=None):
    """Writes a dict name → torch tensor or numpy array (in the dict's order) and optional string metadata."""
    header = {}
    if metadata:
        header["__metadata__"] = {str(k): str(v) for k, v in metadata.items()}
    blobs = []
    offset = 0
    for name, t in tensors.items():
        array = t.detach().cpu().numpy() if isinstance(t, torch.Tensor) else np.asarray(t)
        dtype = array.dtype.newbyteorder("<") if array.dtype.itemsize > 1 else array.dtype
        if dtype not in _NAMES:
            raise ValueError("tensor %s: dtype %s has no safetensors name here" % (name, array.dtype))
        raw = np.ascontiguousarray(array, dtype=dtype).tobytes()
        header[name] = {"dtype": _NAMES[dtype], "shape": list(array.shape),
                        "data_offsets": [offset, offset + len(raw)]}
        blobs.append(raw)
        offset += len(raw)
    text = json.dumps(header, separators=(",", ":")).encode("utf-8")
    text += b" " * (-len(text) % 8)  # pad so the tensor data starts 8-byte aligned, as the reference writer does
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(text)))
        f.write(text)
        for raw in blobs:
            f.write(raw)
