#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""Checks a pt2bin output against torch.load of the same checkpoint, bit for bit.

    /usr/bin/python3 tests/check_pt2bin.py IN.pt OUT.bin [IN2.pt OUT2.bin ...]

For each pair: loads IN.pt with torch.load (classes of upstream YOLOv9 modules that are not
importable here -- models.*, utils.* -- are replaced by empty nn.Module subclasses, enough to
rebuild state_dict()), picks the object pt2bin picks (ema if not None, else model, else the state
dict), and compares with OUT.bin parsed independently of the C++ code:
  * tensor names, in state_dict() order (the .bin's data order), dtypes, shapes, raw bytes (a
    floating tensor stored as another float dtype, pt2bin --dtype, against torch's cast to it;
    torch casts float64 to bfloat16 through float32, so such a pair may differ in a rare tie);
  * metadata: names, stride, bn_eps / bn_eps_by_module against the modules' eps, and the config
    (yaml.safe_load of the stored text == the pickled yaml dict) when the model carries one;
  * the file layout rules of docs/weight-format.md (header padding, exact tiling).
Prints one line per file and exits non-zero on any mismatch. Needs torch (Debian torch 1.13).
"""
import importlib.util
import json
import struct
import sys
import types

import torch

DTYPES = {
    torch.float16: "F16", torch.bfloat16: "BF16", torch.float32: "F32", torch.float64: "F64",
    torch.int8: "I8", torch.uint8: "U8", torch.int16: "I16", torch.int32: "I32", torch.int64: "I64",
    torch.bool: "BOOL",
}
FLOAT_STORAGE = {"F32": torch.float32, "F16": torch.float16, "BF16": torch.bfloat16}  # pt2bin --dtype
STUB_PACKAGES = ("models", "utils")


def install_stub_modules():
    """Unknown upstream classes become empty nn.Module subclasses (no upstream code is needed)."""
    def stub(name):
        m = types.ModuleType(name)
        cache = {}

        def getattr_(attr):
            if attr.startswith("__"):
                raise AttributeError(attr)
            if attr not in cache:
                cache[attr] = type(attr, (torch.nn.Module,), {"__module__": name})
            return cache[attr]
        m.__getattr__ = getattr_
        m.__path__ = []
        return m

    class Finder:
        @staticmethod
        def find_spec(fullname, path=None, target=None):
            if fullname.split(".")[0] not in STUB_PACKAGES:
                return None
            return importlib.util.spec_from_loader(fullname, Finder)

        @staticmethod
        def create_module(spec):
            return stub(spec.name)

        @staticmethod
        def exec_module(module):
            pass
    sys.meta_path.insert(0, Finder)
    for pkg in STUB_PACKAGES:
        sys.modules.setdefault(pkg, stub(pkg))


def read_bin(path):
    data = open(path, "rb").read()
    (n,) = struct.unpack("<Q", data[:8])
    assert (8 + n) % 8 == 0, "header not padded to 8"
    header = json.loads(data[8:8 + n].decode("utf-8"))
    meta = header.pop("__metadata__", {})
    buf = data[8 + n:]
    entries = sorted(header.items(), key=lambda kv: kv[1]["data_offsets"][0])
    end = 0
    for name, e in entries:
        b, f = e["data_offsets"]
        assert b == end, f"{name}: hole/overlap at {b} (expected {end})"
        end = f
    assert end == len(buf), "trailing bytes"
    return meta, [(name, e["dtype"], e["shape"], buf[e["data_offsets"][0]:e["data_offsets"][1]]) for name, e in entries]


def pick(obj):
    if isinstance(obj, torch.nn.Module):
        return obj.state_dict(), obj
    if isinstance(obj, dict):
        for key in ("ema", "model"):
            if isinstance(obj.get(key), torch.nn.Module):
                return obj[key].state_dict(), obj[key]
        for key in ("ema", "model", "state_dict"):
            if isinstance(obj.get(key), dict):
                return obj[key], None
        return obj, None
    raise SystemExit(f"unsupported checkpoint object {type(obj)}")


def tensor_bytes(t):
    t = t.detach().contiguous()
    if t.dtype == torch.bfloat16:
        t = t.view(torch.int16)
    return t.numpy().tobytes()


def none_as_text(v):
    """pt2bin writes a Python None as `None`, as upstream's yaml files do; yaml reads that as 'None'."""
    if v is None:
        return "None"
    if isinstance(v, dict):
        return {k: none_as_text(x) for k, x in v.items()}
    if isinstance(v, (list, tuple)):
        return [none_as_text(x) for x in v]
    return v


def check_metadata(model, meta, errors):
    if model is None:
        if meta.get("bn_eps") != "0.001":
            errors.append(f"bn_eps {meta.get('bn_eps')!r} for a state dict")
        return
    names = getattr(model, "names", None)
    if names is not None:
        want = [names[i] for i in range(len(names))] if isinstance(names, dict) else list(names)
        if json.loads(meta.get("names", "null")) != want:
            errors.append("names differ")
    stride = getattr(model, "stride", None)
    if isinstance(stride, torch.Tensor) and json.loads(meta.get("stride", "null")) != stride.double().tolist():
        errors.append(f"stride {meta.get('stride')} != {stride.tolist()}")
    eps = {n: m.eps for n, m in model.named_modules() if isinstance(m, torch.nn.modules.batchnorm._BatchNorm)}
    if eps:
        common = float(meta["bn_eps"])
        by = json.loads(meta.get("bn_eps_by_module", "{}"))
        for n, e in eps.items():
            if by.get(n, common) != e:
                errors.append(f"bn eps of {n}: file says {by.get(n, common)}, model {e}")
    y = getattr(model, "yaml", None)
    if isinstance(y, dict) and "config" in meta:
        import yaml
        if yaml.safe_load(meta["config"]) != none_as_text(y):
            errors.append("config text does not load back to the pickled yaml dict")


def check(pt_path, bin_path):
    obj = torch.load(pt_path, map_location="cpu")
    sd, model = pick(obj)
    meta, tensors = read_bin(bin_path)
    errors = []
    if [n for n, *_ in tensors] != list(sd.keys()):
        errors.append(f"names/order differ: {len(tensors)} in the .bin, {len(sd)} in state_dict()")
    dtypes = {}
    for name, dtype, shape, raw in tensors:
        t = sd.get(name)
        if t is None:
            continue
        dtypes[dtype] = dtypes.get(dtype, 0) + 1
        if t.is_floating_point() and dtype in FLOAT_STORAGE and dtype != DTYPES[t.dtype]:
            t = t.to(FLOAT_STORAGE[dtype])  # pt2bin --dtype: torch's nearest-even cast is the expectation
        if DTYPES[t.dtype] != dtype or list(t.shape) != shape:
            errors.append(f"{name}: {dtype} {shape} vs torch {t.dtype} {list(t.shape)}")
        elif tensor_bytes(t) != raw:
            errors.append(f"{name}: bytes differ")
    check_metadata(model, meta, errors)
    summary = ", ".join(f"{k} {v}" for k, v in sorted(dtypes.items()))
    status = "OK " if not errors else "FAIL"
    print(f"{status} {pt_path} -> {bin_path}: {len(tensors)} tensors bit-exact ({summary})" if not errors else
          f"{status} {pt_path} -> {bin_path}: " + "; ".join(errors[:5]))
    return not errors


def main(argv):
    if len(argv) < 2 or len(argv) % 2:
        raise SystemExit(__doc__)
    install_stub_modules()
    ok = all([check(argv[i], argv[i + 1]) for i in range(0, len(argv), 2)])
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
