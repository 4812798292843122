# SPDX-License-Identifier: MIT
"""The PyTorch side of the engine comparison: one module shared by the torch timing and the ONNX export.

Built on our reference (tests/reference/yv9ref.py), never on upstream code.

  * weights: yv9ref model, BatchNorm statistics randomised and every conv calibrated so activations
    stay O(1) and the head's scores are spread out (tests/reference/gen_fixtures.py prepare_weights),
    seeded by the config's file name, calibrated at CALIB x CALIB;
  * BenchNet: the network as upstream's detect/export runs it: BatchNorm folded into the convs and
    RepConvN merged into one 3x3 conv (upstream's model.fuse()), output = the decoded main branch
    (1, 4+nc, A) with anchors precomputed for a fixed input size;
      variant 'full': every layer runs; a DualDDetect model also decodes its auxiliary branch and
                      returns (main, aux), as upstream's un-reparameterised model does;
      variant 'main': only the layers the main output depends on (the aux branch is never built).
  * fused weights are stored in the yv9 weight-file layout (safetensors) and read tensor by tensor
    straight into the parameters, so the torch process never holds two copies of the weights.
"""
import contextlib
import json
import math
import os
import struct
import sys
import zlib

import torch
import torch.nn as nn
import torch.nn.functional as F

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.normpath(os.path.join(HERE, '..', '..'))
sys.path.insert(0, os.path.join(ROOT, 'tests', 'reference'))
import yv9ref  # noqa: E402

CALIB = 320      # calibration input size (the smallest benchmark size; see README "Weights")
GEN_VERSION = 3  # bump when the weight generation changes: invalidates the cache


def config_seed(cfg_name):
    return zlib.crc32(cfg_name.encode()) & 0x7fffffff


# ------------------------------------------------------------------------------------------------
# Weights
# ------------------------------------------------------------------------------------------------
def make_model(cfg_text, seed):
    """-> eval yv9ref model with random-but-sane weights (deterministic for a seed), calibrated on the
    benchmark input itself (detect --bench's LCG noise at CALIB x CALIB): calibrated on a smooth
    image-like input instead, the seed model's first attention was already near one-hot on the noise
    input and its activations grew to ~1e6 (fp32 vs float64: 40 px mean difference)."""
    from gen_fixtures import prepare_weights
    torch.manual_seed(seed)
    gen = torch.Generator().manual_seed(seed)
    model = yv9ref.build_model(cfg_text)
    model.eval()
    calib = torch.from_numpy(lcg_input(model.ch, CALIB, CALIB))
    prepare_weights(model, calib, gen)
    return model


# ------------------------------------------------------------------------------------------------
# Fusion (what upstream's model.fuse() does before detect/export)
# ------------------------------------------------------------------------------------------------
class FusedConv(nn.Module):
    def __init__(self, conv, act):
        super().__init__()
        self.conv = conv
        self.act = act

    def forward(self, x):
        return self.act(self.conv(x))


def _new_conv(like, k, pad, w, b):
    c = nn.Conv2d(like.in_channels, like.out_channels, k, like.stride, pad, dilation=like.dilation,
                  groups=like.groups, bias=True)
    with torch.no_grad():
        c.weight.copy_(w)
        c.bias.copy_(b)
    return c


def fuse_(module):
    """In place: Conv -> FusedConv(conv+bias, act); RepConvN -> FusedConv(one 3x3, act);
    MQA depthwise Sequential(conv, BN) -> conv+bias. Each original is dropped as soon as it is replaced."""
    with torch.no_grad():
        for name, child in list(module.named_children()):
            if isinstance(child, yv9ref.RepConvN):
                w3, b3 = yv9ref.fold_bn(child.conv1.conv, child.conv1.bn)
                w1, b1 = yv9ref.fold_bn(child.conv2.conv, child.conv2.bn)
                c = child.conv1.conv
                new = FusedConv(_new_conv(c, 3, 1, w3 + F.pad(w1, [1, 1, 1, 1]), b3 + b1), child.act)
            elif isinstance(child, yv9ref.Conv):
                w, b = yv9ref.fold_bn(child.conv, child.bn)
                c = child.conv
                new = FusedConv(_new_conv(c, c.kernel_size, c.padding, w, b), child.act)
            elif isinstance(child, nn.Sequential) and len(child) == 2 and isinstance(child[0], nn.Conv2d) \
                    and isinstance(child[1], nn.BatchNorm2d):
                w, b = yv9ref.fold_bn(child[0], child[1])
                new = _new_conv(child[0], child[0].kernel_size, child[0].padding, w, b)
            else:
                fuse_(child)
                continue
            for attr in ('i', 'f', 'type', 'np'):  # parse_model's routing attributes
                if hasattr(child, attr):
                    setattr(new, attr, getattr(child, attr))
            setattr(module, name, new)
            del child
    return module


# ------------------------------------------------------------------------------------------------
# The benchmarked network
# ------------------------------------------------------------------------------------------------
def _sources(i, f):
    return [i - 1 if j == -1 else j for j in ([f] if isinstance(f, int) else f)]


def dependencies(layers, targets):
    need, stack = set(), list(targets)
    while stack:
        i = stack.pop()
        if i < 0 or i in need:
            continue
        need.add(i)
        stack.extend(_sources(i, layers[i].f))
    return sorted(need)


def has_aux(model):
    return isinstance(model.head, yv9ref.DualDDetect)


class BenchNet(nn.Module):
    def __init__(self, model, img_hw, variant, strides):
        super().__init__()
        if variant not in ('full', 'main'):
            raise ValueError(variant)
        head = model.head
        if head is None:
            raise ValueError('config has no detection head')
        h, w = img_hw
        if h % 32 or w % 32:
            raise ValueError(f'input size {h}x{w}: both sides must be multiples of 32')
        layers = model.model
        hidx = len(layers) - 1
        self.dual = isinstance(head, yv9ref.DualDDetect)
        n = head.nl
        hf = list(head.f)
        self.main_in = hf[n:] if self.dual else hf
        self.aux_in = hf[:n] if (self.dual and variant == 'full') else []
        self.run_idx = [i for i in dependencies(layers, self.main_in + self.aux_in) if i != hidx]
        self.f = {i: layers[i].f for i in self.run_idx}
        self.layers = nn.ModuleDict({str(i): layers[i] for i in self.run_idx})
        self.nc = head.nc
        self.head = head
        if self.dual and not self.aux_in:  # main only: the aux head set is never built
            del self.head.cv2, self.head.cv3, self.head.dfl
        dummies = [torch.empty(1, 1, h // int(s), w // int(s)) for s in strides]
        anchors, stride_row = yv9ref.make_anchors(dummies, strides)
        self.register_buffer('anchors', anchors.unsqueeze(0), persistent=False)
        self.register_buffer('stride_row', stride_row, persistent=False)

    def _decode(self, levels, dfl):
        no = 4 * yv9ref.REG_MAX + self.nc
        flat = torch.cat([lv.view(1, no, -1) for lv in levels], 2)
        box, cls = flat.split((4 * yv9ref.REG_MAX, self.nc), 1)
        lt, rb = dfl(box).split(2, 1)
        x1y1 = self.anchors - lt
        x2y2 = self.anchors + rb
        xywh = torch.cat(((x1y1 + x2y2) / 2, x2y2 - x1y1), 1)
        return torch.cat((xywh * self.stride_row, cls.sigmoid()), 1)

    def forward(self, x):
        y = {}
        for i in self.run_idx:
            f = self.f[i]
            if f == -1:
                inp = y[i - 1] if i > 0 else x
            elif isinstance(f, int):
                inp = y[f]
            else:
                inp = [y[j] for j in _sources(i, f)]
            y[i] = self.layers[str(i)](inp)
        hd = self.head
        if self.dual:
            main = [torch.cat((hd.cv4[k](y[j]), hd.cv5[k](y[j])), 1) for k, j in enumerate(self.main_in)]
            out = self._decode(main, hd.dfl2)
            if self.aux_in:
                aux = [torch.cat((hd.cv2[k](y[j]), hd.cv3[k](y[j])), 1) for k, j in enumerate(self.aux_in)]
                return out, self._decode(aux, hd.dfl)
            return out
        levels = [torch.cat((hd.cv2[k](y[j]), hd.cv3[k](y[j])), 1) for k, j in enumerate(self.main_in)]
        return self._decode(levels, hd.dfl)


# ------------------------------------------------------------------------------------------------
# Fused weights on disk (yv9 weight-file layout, see tests/reference/write_bin.py)
# ------------------------------------------------------------------------------------------------
def save_fused(path, net, cfg_text):
    from write_bin import write_bin
    sd = {k: v for k, v in net.state_dict().items() if v.is_floating_point()}
    write_bin(path, sd, cfg_text, keep_int=False)


def load_fused_(net, path):
    """Read every tensor net needs straight into its storage (no second copy of the weights)."""
    with open(path, 'rb') as f:
        (n,) = struct.unpack('<Q', f.read(8))
        header = json.loads(f.read(n).decode('utf-8'))
        base = 8 + n
        header.pop('__metadata__', None)
        sd = net.state_dict(keep_vars=True)
        missing = [k for k, v in sd.items() if v.is_floating_point() and k not in header]
        if missing:
            raise KeyError(f'{path}: missing {missing[:3]}')
        for k, t in sd.items():
            if k not in header:
                continue
            e = header[k]
            if e['dtype'] != 'F32' or list(t.shape) != e['shape']:
                raise ValueError(f'{path}: {k}: {e["dtype"]} {e["shape"]} vs {list(t.shape)}')
            b0, b1 = e['data_offsets']
            f.seek(base + b0)
            buf = memoryview(t.data.numpy()).cast('B')
            if f.readinto(buf) != b1 - b0:
                raise ValueError(f'{path}: {k}: truncated')


def build_bench_net(cfg_text, img_hw, variant, strides, fused_path):
    """Runner side: skeleton (random init, fused structure) then the cached fused weights."""
    with torch.no_grad():
        model = yv9ref.build_model(cfg_text)
        model.eval()
        fuse_(model)
        net = BenchNet(model, img_hw, variant, strides)
        del model
        load_fused_(net, fused_path)
    return net.eval()


def parse_hw(s):
    s = str(s)
    if 'x' in s:
        h, w = s.split('x')
        return int(h), int(w)
    return int(s), int(s)


def lcg_input(ch, h, w):
    """The input detect --bench times: x[i] = (state >> 8) / 2^24, state = state * 1664525 + 1013904223
    from 12345, in NCHW order (reproduced here so every engine sees exactly the same tensor)."""
    import numpy as np
    n = ch * h * w
    out = np.empty(n, dtype=np.float32)
    # the LCG has a closed form per step: s_{i+k} = a^k s_i + c (a^k - 1)/(a - 1) mod 2^32; jump in blocks
    a, c, mask = 1664525, 1013904223, 0xffffffff
    block = 4096
    ak = np.empty(block, dtype=np.uint64)
    ck = np.empty(block, dtype=np.uint64)
    pa, pc = 1, 0
    for k in range(block):  # (s -> pa*s + pc) is the (k+1)-step map
        pa, pc = (a * pa) & mask, (a * pc + c) & mask
        ak[k], ck[k] = pa, pc
    s = 12345
    for start in range(0, n, block):
        m = min(block, n - start)
        states = (ak[:m] * np.uint64(s) + ck[:m]) & np.uint64(mask)
        out[start:start + m] = (states >> np.uint64(8)).astype(np.float32) / np.float32(16777216.0)
        s = int(states[m - 1])
    return out.reshape(1, ch, h, w)


# ------------------------------------------------------------------------------------------------
# ONNX export
# ------------------------------------------------------------------------------------------------
class _AttentionCore(torch.autograd.Function):
    """softmax(Q K / sqrt(head_dim)) V exported as the plain MatMul/Div/Softmax/MatMul nodes a direct
    export of yv9ref's forward gives, while tracing computes only zeros of the right shape: tracing the
    seed at 640x640 would otherwise materialise the ~21 GB score tensor in the export process."""

    @staticmethod
    def forward(ctx, q, k, v, scale):
        return q.new_zeros(q.shape[:-1] + (v.shape[-1],))

    @staticmethod
    def symbolic(g, q, k, v, scale):
        s = g.op('MatMul', q, k)
        s = g.op('Div', s, g.op('Constant', value_t=torch.tensor(scale, dtype=torch.float32)))
        p = g.op('Softmax', s, axis_i=-1)
        return g.op('MatMul', p, v)


def _chunked_core(qm, km, vm, scale, chunk=512):
    """The same attention, queries in chunks: memory bounded (for the float64 reference)."""
    outs = []
    for s in range(0, qm.shape[2], chunk):
        scores = torch.matmul(qm[:, :, s:s + chunk], km) / scale
        outs.append(torch.matmul(F.softmax(scores, dim=-1), vm))
    return torch.cat(outs, 2)


@contextlib.contextmanager
def _with_attention_core(core):
    """Every yv9ref MQA layer computes its attention with core(qm, km, vm, scale) meanwhile."""
    cls = yv9ref.MultiQueryAttentionLayerWithDownSampling
    saved = cls.attention_core
    cls.attention_core = lambda self, qm, km, vm, scale: core(qm, km, vm, float(scale))
    try:
        yield
    finally:
        cls.attention_core = saved


def export_onnx(net, x, path, opset=17):
    """net: a BenchNet; writes path atomically. Output names: 'output' (main) [, 'aux']."""
    names = ['output', 'aux'] if net.aux_in else ['output']
    tmp = path + '.tmp'
    with _with_attention_core(_AttentionCore.apply), torch.no_grad():
        torch.onnx.export(net, x, tmp, opset_version=opset, input_names=['images'], output_names=names,
                          do_constant_folding=True)
    os.replace(tmp, path)


def references(cfg_text, weights_path, x):
    """yv9ref's own forward of the unfused weights in the yv9 weight file (attention in query chunks,
    so any size fits in memory) -> (float32 output, float64 output), decoded main branch. float64 is
    the exact answer every engine is measured against; |float32 - float64| is the rounding noise of a
    straightforward fp32 evaluation, the yardstick for 'agree'."""
    from write_bin import read_bin
    _, tensors = read_bin(weights_path)
    model = yv9ref.build_model(cfg_text)
    model.load_state_dict({k: torch.from_numpy(v.copy()) for k, v in tensors.items()})
    del tensors
    model.eval()
    with _with_attention_core(_chunked_core), torch.no_grad():
        y32 = model(torch.from_numpy(x)).numpy()
        model.double()
        y64 = model(torch.from_numpy(x).double()).numpy()
    return y32, y64
