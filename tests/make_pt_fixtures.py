#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""Generates the .pt fixtures of tests/test_pt.cpp and their expected tensors.

    /usr/bin/python3 tests/make_pt_fixtures.py [OUT_DIR] [--only-gelan-tiny]     (default: tests/data/pt)

Needs torch (Debian torch 1.13). Deterministic: fixed seeds, and the archives record no dates.
For every readable fixture X.pt it writes X.expected.bin: a yv9 weight file written here in Python
(independently of the C++ writer) holding the tensors pt2bin must produce -- in state_dict() order,
dtypes preserved, bytes as torch holds them -- and, in __metadata__, the metadata it must produce
plus "layout" (which object the tensors come from). See tests/data/pt/README.md for the list.

The model fixtures use small stand-in classes defined here and registered under upstream's module
names (models.common, models.yolo) so the pickles look like upstream's; they share only class and
attribute names with upstream, no code.
"""
import collections
import copy
import io
import json
import os
import pickletools
import struct
import sys
import types
import zipfile

import numpy as np
import torch
import torch.nn as nn

OUT = sys.argv[1] if len(sys.argv) > 1 and not sys.argv[1].startswith("--") else os.path.join(os.path.dirname(os.path.abspath(__file__)), "data", "pt")
DT = {torch.float16: "F16", torch.bfloat16: "BF16", torch.float32: "F32", torch.float64: "F64", torch.int8: "I8",
      torch.uint8: "U8", torch.int16: "I16", torch.int32: "I32", torch.int64: "I64", torch.bool: "BOOL"}


# ------------------------------------------------------------------------------------------------
# expected outputs

def tensor_bytes(t):
    t = t.detach().contiguous()
    if t.dtype == torch.bfloat16:
        t = t.view(torch.int16)
    return t.numpy().tobytes()


def write_expected(name, tensors, meta):
    """tensors: list of (name, torch tensor) or (name, dtype, shape, raw bytes)."""
    header = {"__metadata__": meta}
    blobs, off = [], 0
    for t in tensors:
        if len(t) == 2:
            t = (t[0], DT[t[1].dtype], list(t[1].shape), tensor_bytes(t[1]))
        key, dt, shape, raw = t
        header[key] = {"dtype": dt, "shape": list(shape), "data_offsets": [off, off + len(raw)]}
        blobs.append(raw)
        off += len(raw)
    h = json.dumps(header, separators=(",", ":"), ensure_ascii=False).encode()
    h += b" " * ((8 - (8 + len(h)) % 8) % 8)
    with open(os.path.join(OUT, name + ".expected.bin"), "wb") as f:
        f.write(struct.pack("<Q", len(h)) + h + b"".join(blobs))


def save(obj, name, **kw):
    path = os.path.join(OUT, name + ".pt")
    torch.save(obj, path, **kw)
    return path


# ------------------------------------------------------------------------------------------------
# state dicts

def special_floats(dtype):
    v = [0.0, -0.0, 1.0, -2.5, 65504.0, 6.0e-8, 1.0e-40, float("inf"), float("-inf"), float("nan"), 3.14159, -1e-3]
    return torch.tensor(v, dtype=torch.float64).to(dtype)


def make_state_dicts():
    g = torch.Generator().manual_seed(1)
    sd = collections.OrderedDict()
    sd["f32.weight"] = torch.randn(4, 3, 2, 2, generator=g)
    sd["f32.special"] = special_floats(torch.float32)
    sd["f16.weight"] = torch.randn(3, 5, generator=g).half()
    sd["f16.special"] = special_floats(torch.float16)  # includes fp16 subnormals, inf, nan
    sd["bf16.weight"] = torch.randn(7, generator=g).bfloat16()
    sd["bf16.special"] = special_floats(torch.bfloat16)
    sd["f64.weight"] = torch.randn(2, 2, generator=g, dtype=torch.float64)
    sd["bn.num_batches_tracked"] = torch.tensor(123456789012, dtype=torch.int64)  # 0-dim I64
    sd["i64.values"] = torch.tensor([-(2 ** 63), 2 ** 63 - 1, 0, -1], dtype=torch.int64)
    sd["i32.values"] = torch.tensor([-(2 ** 31), 7], dtype=torch.int32)
    sd["i16.values"] = torch.tensor([-300, 300], dtype=torch.int16)
    sd["i8.values"] = torch.tensor([-128, 127], dtype=torch.int8)
    sd["u8.values"] = torch.tensor([0, 255], dtype=torch.uint8)
    sd["bool.mask"] = torch.tensor([True, False, True])
    sd["empty"] = torch.zeros(0, 3)
    save(sd, "sd_dtypes")
    write_expected("sd_dtypes", list(sd.items()), {"layout": "state_dict", "bn_eps": "0.001"})

    # The same as a plain dict, pickled with protocols 4 and 5 (FRAME, SHORT_BINUNICODE, MEMOIZE, STACK_GLOBAL).
    small = {k: sd[k] for k in ("f32.weight", "f16.special", "bn.num_batches_tracked", "empty")}
    for proto in (4, 5):
        save(small, f"sd_proto{proto}", pickle_protocol=proto)
        write_expected(f"sd_proto{proto}", list(small.items()), {"layout": "state_dict", "bn_eps": "0.001"})

    # Views: non-contiguous, offset, expanded (stride 0), and several tensors on one storage.
    base = torch.arange(60, dtype=torch.float32).reshape(3, 4, 5)
    views = collections.OrderedDict()
    views["t"] = base[0].t()                      # (5,4) strides (1,5)
    views["step"] = base[:, 1, ::2]               # (3,3) offset 5, strides (20,2)
    views["offset"] = base[2, 3:]                 # contiguous, storage offset 55
    views["permute"] = base.permute(2, 0, 1)      # (5,3,4)
    views["expand"] = base[1, 1, :1].expand(4, 3)  # stride (0,0)... (4,3) from one element
    views["whole"] = base                         # the shared storage itself
    half = torch.arange(24, dtype=torch.float16).reshape(4, 6)
    views["half_cols"] = half[:, 1:5:3]
    views["scalar"] = base[1, 2, 3]               # 0-dim view with an offset
    views["empty_view"] = base[:, :0]
    save(views, "sd_views")
    write_expected("sd_views", list(views.items()), {"layout": "state_dict", "bn_eps": "0.001"})


# ------------------------------------------------------------------------------------------------
# stand-in model classes under upstream's module names

def make_module(name):
    m = types.ModuleType(name)
    sys.modules[name] = m
    return m


make_module("models")
common = make_module("models.common")
yolo = make_module("models.yolo")


class Conv(nn.Module):
    def __init__(self, c1, c2, k=1, s=1, eps=1e-3):
        super().__init__()
        self.conv = nn.Conv2d(c1, c2, k, s, k // 2, bias=False)  # bias=False: _parameters['bias'] is None
        self.bn = nn.BatchNorm2d(c2, eps=eps, momentum=0.03)
        self.act = nn.SiLU()


class RepConvN(nn.Module):
    def __init__(self, c1, c2):
        super().__init__()
        self.act = nn.SiLU()
        self.register_module("bn", None)  # a None entry in _modules
        self.conv1 = Conv(c1, c2, 3)
        self.conv2 = Conv(c1, c2, 1)


class DFL(nn.Module):
    def __init__(self, c1=4):
        super().__init__()
        self.conv = nn.Conv2d(c1, 1, 1, bias=False).requires_grad_(False)
        self.conv.weight.data[:] = torch.arange(c1, dtype=torch.float).view(1, c1, 1, 1)


class DDetect(nn.Module):
    def __init__(self, nc, ch):
        super().__init__()
        self.nc = nc
        self.cv2 = nn.ModuleList(nn.Sequential(Conv(c, 8, 3), nn.Conv2d(8, 4, 1)) for c in ch)
        self.cv3 = nn.ModuleList(nn.Sequential(Conv(c, 8, 3, eps=1e-5), nn.Conv2d(8, nc, 1)) for c in ch)
        self.dfl = DFL(4)
        self.register_buffer("grid_hint", torch.tensor([1.5, 2.5]))             # persistent buffer
        self.register_buffer("scratch", torch.zeros(3), persistent=False)       # excluded from state_dict
        self.register_buffer("unused", None)                                   # None buffer
        self.anchors = torch.empty(0)                                          # plain attribute
        self.strides = torch.arange(6.0).view(2, 3).t()                        # non-contiguous plain attribute


class Concat(nn.Module):
    def __init__(self, d=1):
        super().__init__()
        self.d = d


class DetectionModel(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        self.yaml = cfg
        self.yaml_file = "tiny.yaml"
        self.model = nn.Sequential(Conv(3, 4, 3, 2), RepConvN(4, 4), nn.Upsample(None, 2, "nearest"),
                                   Concat(1), DDetect(cfg["nc"], [4]))
        self.save = [1, 2]
        self.names = {0: "circle", 1: "caf\u00e9"}
        self.inplace = True
        self.stride = torch.tensor([8.0, 16.0, 32.0])
        self.nc = cfg["nc"]


for cls, mod in ((Conv, common), (RepConvN, common), (DFL, common), (Concat, common), (DDetect, yolo),
                 (DetectionModel, yolo)):
    cls.__module__ = mod.__name__
    setattr(mod, cls.__name__, cls)

TINY_YAML = {
    "nc": 2, "depth_multiple": 0.33, "width_multiple": 0.25, "activation": "nn.LeakyReLU(0.1)", "anchors": 3,
    "backbone": [[-1, 1, "Conv", [4, 3, 2]], [-1, 1, "RepConvN", [4]]],
    "head": [[-1, 1, "nn.Upsample", ["None", 2, "nearest"]], [[-1, 1], 1, "Concat", [1]],
             [[3], 1, "DDetect", ["nc"]]],
    "ch": 3, "note": "it's: odd", "eps": 1e-05, "flag": True, "nothing": None,
}
# What pt2bin must write for TINY_YAML (the rules are in include/yv9/io/checkpoint.hpp).
TINY_CONFIG = """nc: 2
depth_multiple: 0.33
width_multiple: 0.25
activation: nn.LeakyReLU(0.1)
anchors: 3
backbone:
  - [-1, 1, Conv, [4, 3, 2]]
  - [-1, 1, RepConvN, [4]]
head:
  - [-1, 1, nn.Upsample, [None, 2, 'nearest']]
  - [[-1, 1], 1, Concat, [1]]
  - [[3], 1, DDetect, [nc]]
ch: 3
note: 'it''s: odd'
eps: 1.0e-05
flag: True
nothing: None
"""
BN_BY_MODULE = '{"model.4.cv3.0.0.bn":1e-05}'


def make_model(seed):
    torch.manual_seed(seed)
    m = DetectionModel(copy.deepcopy(TINY_YAML))
    for mod in m.modules():
        if isinstance(mod, nn.BatchNorm2d):
            mod.running_mean.uniform_(-0.5, 0.5)
            mod.running_var.uniform_(0.5, 2.0)
            mod.num_batches_tracked.fill_(seed)
    return m.eval()


def model_meta(layout):
    return {"layout": layout, "bn_eps": "0.001", "bn_eps_by_module": BN_BY_MODULE, "config": TINY_CONFIG,
            "names": '["circle","caf\u00e9"]', "stride": "[8,16,32]"}


def make_model_checkpoints():
    model = make_model(1)
    save(model, "module")
    write_expected("module", list(model.state_dict().items()), model_meta("module"))

    # An upstream-shaped training checkpoint: fp16 model and ema, SGD state, opt, numpy best_fitness.
    ema = make_model(2).half()
    ema.stride = ema.stride.half()  # an fp16 stride tensor must still give [8,16,32]
    train_model = make_model(3)
    opt = torch.optim.SGD(train_model.parameters(), lr=0.01, momentum=0.9, nesterov=True)
    for p in train_model.parameters():
        p.grad = torch.ones_like(p)
    opt.step()
    ckpt = {"epoch": 0, "best_fitness": np.float64(0.25), "model": copy.deepcopy(train_model).half(), "ema": ema,
            "updates": 2, "optimizer": opt.state_dict(),
            "opt": {"weights": "", "cfg": "tiny.yaml", "imgsz": 64, "hyp": {"lr0": 0.01}, "rect": False,
                    "noautoanchor": None, "batch_size": [4]},
            "git": None, "date": "2026-11-27T22:00:00"}
    save(ckpt, "train_ckpt")
    write_expected("train_ckpt", list(ema.state_dict().items()), dict(model_meta("ema"), imgsz="64"))  # from opt

    # Stripped: model = ema, the rest None; names as a list.
    stripped = copy.deepcopy(ema)
    stripped.names = ["circle", "caf\u00e9"]
    save({"epoch": -1, "best_fitness": None, "model": stripped, "ema": None, "updates": None, "optimizer": None,
          "opt": ckpt["opt"], "git": None, "date": ckpt["date"]}, "stripped")
    write_expected("stripped", list(stripped.state_dict().items()), dict(model_meta("model"), imgsz="64"))

    # "-converted" style, in the key order of upstream's reparameterization notebook.
    conv = make_model(4).half()
    save({"model": conv, "optimizer": None, "best_fitness": None, "ema": None, "updates": None, "opt": None,
          "git": None, "date": None, "epoch": -1}, "converted")
    write_expected("converted", list(conv.state_dict().items()), model_meta("model"))


# ------------------------------------------------------------------------------------------------
# torch 2.x pickles, assembled by hand (torch 1.13 cannot write them)

class Asm:
    """A tiny pickle assembler: each method appends one opcode."""

    def __init__(self, proto=2):
        self.b = bytearray(b"\x80" + bytes([proto]))

    def op(self, code, payload=b""):
        self.b += code + payload
        return self

    def glob(self, module, name):
        return self.op(b"c", f"{module}\n{name}\n".encode())

    def stack_glob(self, module, name):
        return self.short_str(module).short_str(name).op(b"\x93")

    def str(self, s):
        e = s.encode()
        return self.op(b"X", struct.pack("<I", len(e)) + e)

    def short_str(self, s):
        e = s.encode()
        return self.op(b"\x8c", bytes([len(e)]) + e)

    def int(self, v):
        if 0 <= v < 256:
            return self.op(b"K", bytes([v]))
        if -(2 ** 31) <= v < 2 ** 31:
            return self.op(b"J", struct.pack("<i", v))
        raw = v.to_bytes(8, "little", signed=True)
        return self.op(b"\x8a", bytes([8]) + raw)

    def ints(self, vals):
        self.op(b"(")
        for v in vals:
            self.int(v)
        return self.op(b"t")

    def ordered_dict(self):
        return self.glob("collections", "OrderedDict").op(b")").op(b"R")

    def pid(self, storage_type, key, numel):
        return (self.op(b"(").str("storage").glob("torch", storage_type).str(key).str("cpu").int(numel).op(b"t")
                .op(b"Q"))


def v3_tensor(a, key, nbytes, offset, size, stride, dtype):
    a.glob("torch._utils", "_rebuild_tensor_v3").op(b"(")
    a.pid("UntypedStorage", key, nbytes).int(offset).ints(size).ints(stride).op(b"\x89").ordered_dict()
    a.glob("torch", dtype).op(b"t").op(b"R")


def v2_tensor(a, storage_type, key, numel, offset, size, stride):
    a.glob("torch._utils", "_rebuild_tensor_v2").op(b"(")
    a.pid(storage_type, key, numel).int(offset).ints(size).ints(stride).op(b"\x89").ordered_dict().op(b"t").op(b"R")


def torch2_pickle():
    """A plain-dict state dict as torch 2.x writes it, plus the rarer rebuild functions."""
    a = Asm(2).op(b"}").op(b"q", b"\x00").op(b"(")
    a.str("a.weight")                                     # F16 from an untyped storage
    v3_tensor(a, "0", 12, 0, [2, 3], [3, 1], "float16")
    a.str("a.bias")                                       # BF16 parameter with Python state
    a.glob("torch._utils", "_rebuild_parameter_with_state").op(b"(")
    v3_tensor(a, "1", 6, 0, [3], [1], "bfloat16")
    a.op(b"\x88").ordered_dict().op(b"}").str("tag").int(7).op(b"s").op(b"t").op(b"R")
    a.str("b.view")                                       # a transposed view of storage 0 (shared)
    v3_tensor(a, "0", 12, 1, [2, 2], [1, 3], "float16")
    a.str("c.bytes")                                      # v2 on an untyped storage: bytes
    v2_tensor(a, "UntypedStorage", "2", 4, 0, [4], [1])
    a.str("d.sub")                                        # a tensor subclass: (func, type, args, state)
    a.glob("torch._tensor", "_rebuild_from_type_v2").op(b"(")
    a.glob("torch._utils", "_rebuild_tensor_v2").op(b"r", struct.pack("<I", 300)).glob("torch", "Tensor")
    a.op(b"(").pid("FloatStorage", "3", 2).int(0).ints([2]).ints([1]).op(b"\x89").ordered_dict().op(b"t")
    a.op(b"}").op(b"t").op(b"R")
    a.str("e.long")                                       # 0-dim, LONG_BINGET of the memoised function
    a.glob("torch._tensor", "_rebuild_from_type_v2").op(b"(").op(b"j", struct.pack("<I", 300)).glob("torch", "Tensor")
    a.op(b"(").pid("LongStorage", "4", 1).int(0).op(b")").op(b")").op(b"\x89").ordered_dict().op(b"t")
    a.op(b"}").op(b"t").op(b"R")
    a.op(b"u").op(b".")
    return bytes(a.b)


def proto4_pickle():
    """Protocol-4 opcodes torch.save(pickle_protocol=4) may emit, in one state dict."""
    a = Asm(4)
    body = Asm(4)
    body.b = bytearray()
    body.op(b"}").op(b"\x94").op(b"(")
    body.short_str("w").op(b"\x94")
    body.stack_glob("torch._utils", "_rebuild_tensor_v2").op(b"\x94").op(b"(")
    body.op(b"(").short_str("storage").stack_glob("torch", "HalfStorage").short_str("0").short_str("cpu").int(4)
    body.op(b"t").op(b"Q").int(0).ints([2, 2]).ints([2, 1]).op(b"\x89")
    body.stack_glob("collections", "OrderedDict").op(b")").op(b"R").op(b"t").op(b"R").op(b"\x94")
    body.short_str("again").op(b"h", b"\x03")               # the same tensor object under a second name
    body.op(b"u").op(b".")
    a.op(b"\x95", struct.pack("<Q", len(body.b)))
    return bytes(a.b + body.b)


def write_zip(name, prefix, pickle_bytes, storages, extra_records=()):
    pickletools.dis(pickle_bytes, out=io.StringIO())  # validates stack/memo/mark structure
    with zipfile.ZipFile(os.path.join(OUT, name + ".pt"), "w", zipfile.ZIP_STORED) as z:
        def add(n, data):
            info = zipfile.ZipInfo(f"{prefix}/{n}", date_time=(1980, 1, 1, 0, 0, 0))
            z.writestr(info, data)
        add("data.pkl", pickle_bytes)
        for rec, data in extra_records:
            add(rec, data)
        for key, data in storages:
            add(f"data/{key}", data)
        add("version", b"3\n")


def make_torch2_archives():
    s0 = torch.tensor([1.0, -2.0, 0.5, 65504.0, 6.0e-8, -0.0], dtype=torch.float16)
    s1 = torch.tensor([1.0, -3.140625, 0.0078125], dtype=torch.bfloat16)
    s2 = bytes([0, 1, 254, 255])
    s3 = torch.tensor([0.25, -8.0], dtype=torch.float32)
    s4 = torch.tensor([-5], dtype=torch.int64)
    write_zip("torch2_style", "weird name", torch2_pickle(),
              [("0", tensor_bytes(s0)), ("1", tensor_bytes(s1)), ("2", s2), ("3", tensor_bytes(s3)),
               ("4", tensor_bytes(s4))],
              [("byteorder", b"little"), (".format_version", b"1"), (".storage_alignment", b"64")])
    expected = [("a.weight", s0.view(2, 3)), ("a.bias", s1), ("b.view", s0[1:].as_strided((2, 2), (1, 3))),
                ("c.bytes", "U8", [4], s2), ("d.sub", s3), ("e.long", s4.view(()))]
    write_expected("torch2_style", expected, {"layout": "state_dict", "bn_eps": "0.001"})

    h = torch.tensor([1.0, 2.0, 3.0, 4.0], dtype=torch.float16)
    write_zip("proto4_hand", "archive", proto4_pickle(), [("0", tensor_bytes(h))])
    write_expected("proto4_hand", [("w", h.view(2, 2)), ("again", h.view(2, 2))],
                   {"layout": "state_dict", "bn_eps": "0.001"})


# ------------------------------------------------------------------------------------------------
# a real model: gelan-s topology at 1/8 width, built by our PyTorch reference (tests/reference)

def make_gelan_tiny():
    """gelan-s-tiny.pt: shaped like upstream's stripped best.pt (strip_optimizer): `model` = the EMA as
    an fp16 module with its yaml dict and names, everything else None. The weights are random but of
    sane scale (BatchNorm statistics randomised as in tests/reference), so outputs are informative."""
    sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "reference"))
    import yaml
    import yv9ref
    torch.manual_seed(7)
    cfg = yaml.safe_load(open(os.path.join(OUT, "gelan-s-tiny.yaml"), encoding="utf-8"))
    m = yv9ref.build_model(cfg)
    g = torch.Generator().manual_seed(7)
    with torch.no_grad():
        for mod in m.modules():
            if isinstance(mod, nn.BatchNorm2d):
                mod.running_var.copy_(torch.rand(mod.num_features, generator=g) * 1.5 + 0.5)
                mod.running_mean.copy_(torch.rand(mod.num_features, generator=g) - 0.5)
                mod.weight.copy_(torch.rand(mod.num_features, generator=g) * 0.4 + 0.8)
                mod.bias.copy_(torch.rand(mod.num_features, generator=g) * 0.4 - 0.2)
    m.names = {0: "cat", 1: "dog"}
    m.layer_info = None  # the reference's parse_model table: not part of an upstream model
    ema = m.eval().half()
    save({"model": ema, "optimizer": None, "best_fitness": None, "ema": None, "updates": None, "opt": None,
          "git": None, "date": None, "epoch": -1}, "gelan-s-tiny")
    # a float32 weight beyond the F16 range: `pt2bin --dtype f16` must refuse it, naming the tensor
    save(collections.OrderedDict([("model.0.conv.weight", torch.tensor([0.5, -70000.0, 1.0]))]), "sd_beyond_f16")


# ------------------------------------------------------------------------------------------------
# files pt2bin must refuse

def make_refusals():
    sd = {"w": torch.ones(2)}
    save(sd, "legacy", _use_new_zipfile_serialization=False)
    torch.jit.save(torch.jit.script(nn.Linear(2, 1)), os.path.join(OUT, "torchscript.pt"))


def main():
    os.makedirs(OUT, exist_ok=True)
    if "--only-gelan-tiny" in sys.argv:  # the other fixtures stay untouched (legacy.pt is not reproducible)
        return make_gelan_tiny()
    make_state_dicts()
    make_model_checkpoints()
    make_torch2_archives()
    make_refusals()
    make_gelan_tiny()
    total = sum(os.path.getsize(os.path.join(OUT, f)) for f in os.listdir(OUT))
    print(f"wrote {len(os.listdir(OUT))} files, {total} bytes, to {OUT}")


if __name__ == "__main__":
    main()
