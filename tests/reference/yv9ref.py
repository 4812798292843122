# SPDX-License-Identifier: MIT
"""yv9ref — an independent PyTorch reference of the YOLOv9 / GELAN detector family (+ Mobile MQA).

Written from a description of upstream's module semantics (building blocks, the seed's Mobile MQA,
heads, parse_model), for test-data generation only; it is not part of the engine. It reproduces upstream YOLOv9's *semantics* (parse_model, module behaviour, state-dict
names) so that a state dict saved from upstream loads here with strict=True and gives the same
numbers, but it is its own code: no upstream source was copied (upstream is GPL-3.0).

Usage
    m = build_model('cfg.yaml')               # or a dict / yaml text; ch= / nc= override like Model()
    m.load_state_dict(sd); m.eval()
    y = m(x)                                  # what upstream feeds to NMS (decoded, main branch)
    r = m.run(x)                              # y + every layer's output + aux branch + raw levels

Conventions:
  * every BatchNorm2d has eps = 1e-3 (upstream's initialize_weights), including the attention's;
  * the `activation:` key of a config replaces SiLU in Conv and RepConvN for that model only
    (upstream leaks it into later models through a class attribute; we deliberately do not);
  * the standalone MQA layer in a yaml takes [heads, key_dim, value_dim, qh, qw, kv(, dw_k)] and
    keeps its input's channel count;
  * a top-level `ch:` key sets the input channels (upstream Model(cfg, ch=...)).
"""
import copy
import math

import torch
import torch.nn as nn
import torch.nn.functional as F

BN_EPS = 1e-3
BN_MOMENTUM = 0.03
REG_MAX = 16


def batchnorm(c):
    return nn.BatchNorm2d(c, eps=BN_EPS, momentum=BN_MOMENTUM)


def fold_bn(conv, bn):
    """(weight, bias) of `conv` followed by eval-mode `bn` as one conv: BatchNorm folding as an
    engine does it (the fused twins in gen_fixtures.py and tools/bench/benchnet.py use it)."""
    std = (bn.running_var + bn.eps).sqrt()
    w = conv.weight * (bn.weight / std).view(-1, 1, 1, 1)
    b = bn.bias - bn.running_mean * bn.weight / std
    if conv.bias is not None:
        b = b + conv.bias * bn.weight / std
    return w, b


# --------------------------------------------------------------------------------------------
# Activation selection. Conv/RepConvN read the activation of the model being built from here;
# the builder sets it for the duration of one build and always restores SiLU afterwards.
# --------------------------------------------------------------------------------------------
_ACTIVATION_PROTOTYPE = [None]  # None = SiLU


def _new_activation():
    proto = _ACTIVATION_PROTOTYPE[0]
    return nn.SiLU() if proto is None else copy.deepcopy(proto)


def parse_activation(text):
    """`nn.ReLU()`, `nn.LeakyReLU(0.1)`, `nn.SiLU()`, ... -> a module (restricted evaluation)."""
    if text is None:
        return None
    allowed = {'nn': nn, 'torch': torch}
    act = eval(str(text), {'__builtins__': {}}, allowed)  # configs are test inputs we wrote/trust
    if not isinstance(act, nn.Module):
        raise ValueError(f'activation {text!r} is not an nn.Module')
    return act


def autopad(k, p=None, d=1):
    """'same' padding for odd kernels; dilation widens the effective kernel first."""
    if p is not None:
        return p
    if d > 1:
        k = d * (k - 1) + 1 if isinstance(k, int) else [d * (v - 1) + 1 for v in k]
    return k // 2 if isinstance(k, int) else [v // 2 for v in k]


def make_divisible(x, divisor):
    return math.ceil(x / divisor) * divisor


# --------------------------------------------------------------------------------------------
# Building blocks. Attribute names = upstream state-dict names.
# --------------------------------------------------------------------------------------------
class Conv(nn.Module):
    """conv (no bias) -> BN(eps 1e-3) -> activation."""

    def __init__(self, c1, c2, k=1, s=1, p=None, g=1, d=1, act=True):
        super().__init__()
        self.conv = nn.Conv2d(c1, c2, k, s, autopad(k, p, d), groups=g, dilation=d, bias=False)
        self.bn = batchnorm(c2)
        if act is True:
            self.act = _new_activation()
        elif isinstance(act, nn.Module):
            self.act = act
        else:
            self.act = nn.Identity()

    def forward(self, x):
        return self.act(self.bn(self.conv(x)))


class RepConvN(nn.Module):
    """act(Conv3x3 (no act) + Conv1x1 (no act)); no identity branch."""

    def __init__(self, c1, c2, k=3, s=1, p=1, g=1, d=1, act=True):
        super().__init__()
        if k != 3 or p != 1:
            raise ValueError('RepConvN needs k=3, p=1')
        self.act = _new_activation() if act is True else (act if isinstance(act, nn.Module) else nn.Identity())
        self.conv1 = Conv(c1, c2, k, s, p=p, g=g, act=False)
        self.conv2 = Conv(c1, c2, 1, s, p=p - k // 2, g=g, act=False)

    def forward(self, x):
        return self.act(self.conv1(x) + self.conv2(x))


class RepNBottleneck(nn.Module):
    def __init__(self, c1, c2, shortcut=True, g=1, k=(3, 3), e=0.5):
        super().__init__()
        hidden = int(c2 * e)
        self.cv1 = RepConvN(c1, hidden, k[0], 1)
        self.cv2 = Conv(hidden, c2, k[1], 1, g=g)
        self.add = bool(shortcut) and c1 == c2

    def forward(self, x):
        out = self.cv2(self.cv1(x))
        return x + out if self.add else out


class RepNCSP(nn.Module):
    def __init__(self, c1, c2, n=1, shortcut=True, g=1, e=0.5):
        super().__init__()
        hidden = int(c2 * e)
        self.cv1 = Conv(c1, hidden, 1, 1)
        self.cv2 = Conv(c1, hidden, 1, 1)
        self.cv3 = Conv(2 * hidden, c2, 1)
        self.m = nn.Sequential(*[RepNBottleneck(hidden, hidden, shortcut, g, e=1.0) for _ in range(n)])

    def forward(self, x):
        return self.cv3(torch.cat((self.m(self.cv1(x)), self.cv2(x)), 1))


class _ELANBase(nn.Module):
    """cv1 -> chunk(2) -> y[-1] through cv2, then cv3 -> cv4(cat(all four))."""

    def forward(self, x):
        parts = list(self.cv1(x).chunk(2, 1))
        parts.append(self.cv2(parts[-1]))
        parts.append(self.cv3(parts[-1]))
        return self.cv4(torch.cat(parts, 1))


class RepNCSPELAN4(_ELANBase):
    def __init__(self, c1, c2, c3, c4, c5=1):
        super().__init__()
        self.c = c3 // 2
        self.cv1 = Conv(c1, c3, 1, 1)
        self.cv2 = nn.Sequential(RepNCSP(c3 // 2, c4, c5), Conv(c4, c4, 3, 1))
        self.cv3 = nn.Sequential(RepNCSP(c4, c4, c5), Conv(c4, c4, 3, 1))
        self.cv4 = Conv(c3 + 2 * c4, c2, 1, 1)


class ELAN1(_ELANBase):
    def __init__(self, c1, c2, c3, c4):
        super().__init__()
        self.c = c3 // 2
        self.cv1 = Conv(c1, c3, 1, 1)
        self.cv2 = Conv(c3 // 2, c4, 3, 1)
        self.cv3 = Conv(c4, c4, 3, 1)
        self.cv4 = Conv(c3 + 2 * c4, c2, 1, 1)


class AConv(nn.Module):
    def __init__(self, c1, c2):
        super().__init__()
        self.cv1 = Conv(c1, c2, 3, 2, 1)

    def forward(self, x):
        x = F.avg_pool2d(x, kernel_size=2, stride=1, padding=0, ceil_mode=False, count_include_pad=True)
        return self.cv1(x)


class ADown(nn.Module):
    def __init__(self, c1, c2):
        super().__init__()
        self.c = c2 // 2
        self.cv1 = Conv(c1 // 2, self.c, 3, 2, 1)
        self.cv2 = Conv(c1 // 2, self.c, 1, 1, 0)

    def forward(self, x):
        x = F.avg_pool2d(x, kernel_size=2, stride=1, padding=0, ceil_mode=False, count_include_pad=True)
        a, b = x.chunk(2, 1)
        a = self.cv1(a)
        b = self.cv2(F.max_pool2d(b, kernel_size=3, stride=2, padding=1))
        return torch.cat((a, b), 1)


class SP(nn.Module):
    """Stride-1 'same' max pool (SPPELAN's cv2..cv4)."""

    def __init__(self, k=3, s=1):
        super().__init__()
        self.m = nn.MaxPool2d(kernel_size=k, stride=s, padding=k // 2)

    def forward(self, x):
        return self.m(x)


class SPPELAN(nn.Module):
    def __init__(self, c1, c2, c3):
        super().__init__()
        self.c = c3
        self.cv1 = Conv(c1, c3, 1, 1)
        self.cv2 = SP(5)
        self.cv3 = SP(5)
        self.cv4 = SP(5)
        self.cv5 = Conv(4 * c3, c2, 1, 1)

    def forward(self, x):
        feats = [self.cv1(x)]
        for pool in (self.cv2, self.cv3, self.cv4):
            feats.append(pool(feats[-1]))
        return self.cv5(torch.cat(feats, 1))


class Concat(nn.Module):
    def __init__(self, dimension=1):
        super().__init__()
        self.d = dimension

    def forward(self, xs):
        return torch.cat(xs, self.d)


class Silence(nn.Module):
    def forward(self, x):
        return x


class CBLinear(nn.Module):
    """One conv (with bias) to sum(c2s) channels, returned as a tuple of len(c2s) splits."""

    def __init__(self, c1, c2s, k=1, s=1, p=None, g=1):
        super().__init__()
        self.c2s = list(c2s)
        self.conv = nn.Conv2d(c1, sum(self.c2s), k, s, autopad(k, p), groups=g, bias=True)

    def forward(self, x):
        return self.conv(x).split(self.c2s, dim=1)


class CBFuse(nn.Module):
    """Sum of T (last input) and split idx[i] of each CBLinear input, nearest-resized to T's size."""

    def __init__(self, idx):
        super().__init__()
        self.idx = list(idx)

    def forward(self, xs):
        size = xs[-1].shape[2:]
        picked = [F.interpolate(x[self.idx[i]], size=size, mode='nearest') for i, x in enumerate(xs[:-1])]
        # stack + sum(dim 0), the reduction upstream uses (order matters at the ulp level)
        return torch.stack(picked + [xs[-1]]).sum(dim=0)


# --------------------------------------------------------------------------------------------
# Mobile MQA: the seed's semantics, incl. its raw `view` reinterpretations.
# --------------------------------------------------------------------------------------------
def seed_conv2d(c_in, c_out, k=3, stride=1, groups=1, norm=True, act=True):
    """The seed's conv2d helper: Sequential(Conv2d(no bias, pad (k-1)//2), [BN], [ReLU6])."""
    layers = [nn.Conv2d(c_in, c_out, k, stride, (k - 1) // 2, bias=False, groups=groups)]
    if norm:
        layers.append(batchnorm(c_out))
    if act:
        layers.append(nn.ReLU6())
    return nn.Sequential(*layers)


class MultiQueryAttentionLayerWithDownSampling(nn.Module):
    """Per batch item (all buffers contiguous NCHW, read row-major):
         Q = q buffer as [nh, Lq, kd]; K = k buffer as [kd, Lk]; V = v buffer as [Lk, kd]
         O_h = softmax(Q_h K / sqrt(kd // nh)) V        -> [nh, Lq, kd] buffer
         context = that buffer read as [nh*kd, Hq, Wq]  (seed: [.., px, px]; generalised)
       value_dim is stored but unused (V has key_dim channels), as in the seed."""

    def __init__(self, in_channels, num_heads, key_dim, value_dim, query_h_strides, query_w_strides,
                 kv_strides, dw_kernel_size=3, dropout=0.0):
        super().__init__()
        self.in_channels = in_channels
        self.num_heads = num_heads
        self.key_dim = key_dim
        self.value_dim = value_dim
        self.query_h_strides = query_h_strides
        self.query_w_strides = query_w_strides
        self.kv_strides = kv_strides
        self.dw_kernel_size = dw_kernel_size
        self.head_dim = key_dim // num_heads
        if query_h_strides > 1 or query_w_strides > 1:
            self._query_downsampling_norm = batchnorm(in_channels)
        self._query_proj = seed_conv2d(in_channels, num_heads * key_dim, 1, 1, norm=False, act=False)
        if kv_strides > 1:
            self._key_dw_conv = seed_conv2d(in_channels, in_channels, dw_kernel_size, kv_strides,
                                            groups=in_channels, norm=True, act=False)
            self._value_dw_conv = seed_conv2d(in_channels, in_channels, dw_kernel_size, kv_strides,
                                              groups=in_channels, norm=True, act=False)
        self._key_proj = seed_conv2d(in_channels, key_dim, 1, 1, norm=False, act=False)
        self._value_proj = seed_conv2d(in_channels, key_dim, 1, 1, norm=False, act=False)
        self._output_proj = seed_conv2d(num_heads * key_dim, in_channels, 1, 1, norm=False, act=False)
        self.dropout = nn.Dropout(p=dropout)
        self.trace = None  # set to {} to record q/k/v/context of the next forward

    def forward(self, x):
        bs = x.shape[0]
        if self.query_h_strides > 1 or self.query_w_strides > 1:
            # the seed calls avg_pool2d(qh, qw) (a crash); intended: pool x with kernel = stride = (qh, qw)
            q = F.avg_pool2d(x, (self.query_h_strides, self.query_w_strides))
            q = self._query_downsampling_norm(q)
            q = self._query_proj(q)
        else:
            q = self._query_proj(x)
        hq, wq = q.shape[2], q.shape[3]
        if self.kv_strides > 1:
            k = self._key_proj(self._key_dw_conv(x))
            v = self._value_proj(self._value_dw_conv(x))
        else:
            k = self._key_proj(x)
            v = self._value_proj(x)
        if self.trace is not None:
            self.trace.update(q=q, k=k, v=v)
        qm = q.reshape(bs, self.num_heads, -1, self.key_dim)   # reinterpretation, not a transpose
        km = k.reshape(bs, 1, self.key_dim, -1)
        vm = v.reshape(bs, 1, -1, self.key_dim)                # NOT km transposed
        context = self.attention_core(qm, km, vm, self.head_dim ** 0.5)
        context = context.reshape(bs, self.num_heads * self.key_dim, hq, wq)
        if self.trace is not None:
            self.trace['context'] = context
        return self._output_proj(context)

    def attention_core(self, qm, km, vm, scale):
        """softmax(Q K / scale) V on the reinterpreted views. tools/bench/benchnet.py swaps it for an
        export-only node and for a query-chunked version (same math, bounded memory)."""
        scores = torch.matmul(qm, km) / scale
        probs = F.softmax(self.dropout(scores), dim=-1)
        if self.trace is not None:
            self.trace['probs'] = probs
        return torch.matmul(probs, vm)


class MMQARepNCSPELAN4(_ELANBase):
    def __init__(self, c1, c2, c3, c4, c5=1):
        super().__init__()
        self.c = c3 // 2
        self.cv1 = Conv(c1, c3, 1, 1)
        self.cv2 = nn.Sequential(RepNCSP(c3 // 2, c4, c5),
                                 MultiQueryAttentionLayerWithDownSampling(c4, 8, 48, 48, 1, 1, 1))
        self.cv3 = nn.Sequential(RepNCSP(c4, c4, c5),
                                 MultiQueryAttentionLayerWithDownSampling(c4, 8, 48, 48, 1, 1, 1))
        self.cv4 = Conv(c3 + 2 * c4, c2, 1, 1)


# --------------------------------------------------------------------------------------------
# Heads + decoding
# --------------------------------------------------------------------------------------------
class DFL(nn.Module):
    """Softmax over 16 bins per side, expectation with fixed weights 0..15 (stored as conv.weight)."""

    def __init__(self, c1=REG_MAX):
        super().__init__()
        self.c1 = c1
        self.conv = nn.Conv2d(c1, 1, 1, bias=False).requires_grad_(False)
        with torch.no_grad():
            self.conv.weight.copy_(torch.arange(c1, dtype=torch.float32).view(1, c1, 1, 1))

    def forward(self, x):
        b, _, a = x.shape
        probs = x.view(b, 4, self.c1, a).transpose(2, 1).softmax(1)  # (b, 16, 4, a)
        return self.conv(probs).view(b, 4, a)


def make_anchors(levels, strides, offset=0.5):
    points, stride_col = [], []
    dtype = levels[0].dtype
    for feat, s in zip(levels, strides):
        h, w = feat.shape[2], feat.shape[3]
        xs = torch.arange(w, dtype=dtype) + offset
        ys = torch.arange(h, dtype=dtype) + offset
        gy, gx = torch.meshgrid(ys, xs, indexing='ij')
        points.append(torch.stack((gx, gy), -1).view(-1, 2))
        stride_col.append(torch.full((h * w, 1), float(s), dtype=dtype))
    return torch.cat(points).transpose(0, 1), torch.cat(stride_col).transpose(0, 1)  # (2, A), (1, A)


def decode(levels, dfl, nc, strides, anchor_levels=None):
    """Raw per-level maps (b, 64+nc, h, w) -> (b, 4+nc, A): xywh in input pixels + sigmoid scores."""
    b = levels[0].shape[0]
    no = 4 * REG_MAX + nc
    anchors, stride_row = make_anchors(anchor_levels if anchor_levels is not None else levels, strides)
    flat = torch.cat([lv.view(b, no, -1) for lv in levels], 2)
    box, cls = flat.split((4 * REG_MAX, nc), 1)
    dist = dfl(box)
    lt, rb = dist.split(2, 1)
    a = anchors.unsqueeze(0)
    x1y1 = a - lt
    x2y2 = a + rb
    xywh = torch.cat(((x1y1 + x2y2) / 2, x2y2 - x1y1), 1)
    return torch.cat((xywh * stride_row, cls.sigmoid()), 1)


def _box_branch(x, c2, grouped):
    if grouped:
        return nn.Sequential(Conv(x, c2, 3), Conv(c2, c2, 3, g=4), nn.Conv2d(c2, 4 * REG_MAX, 1, groups=4))
    return nn.Sequential(Conv(x, c2, 3), Conv(c2, c2, 3), nn.Conv2d(c2, 4 * REG_MAX, 1))


def _cls_branch(x, c3, nc):
    return nn.Sequential(Conv(x, c3, 3), Conv(c3, c3, 3), nn.Conv2d(c3, nc, 1))


def _head_widths(ch0, nc, grouped):
    c2 = max(ch0 // 4, 4 * REG_MAX, 16)
    if grouped:
        c2 = make_divisible(c2, 4)
    c3 = max(ch0, min(nc * 2, 128))
    return c2, c3


class Detect(nn.Module):
    """Single head set; `grouped` selects DDetect's grouped box branch."""
    grouped = False

    def __init__(self, nc=80, ch=()):
        super().__init__()
        self.nc = nc
        self.nl = len(ch)
        self.no = nc + 4 * REG_MAX
        self.register_buffer('stride', torch.zeros(self.nl), persistent=False)
        c2, c3 = _head_widths(ch[0], nc, self.grouped)
        self.cv2 = nn.ModuleList(_box_branch(x, c2, self.grouped) for x in ch)
        self.cv3 = nn.ModuleList(_cls_branch(x, c3, nc) for x in ch)
        self.dfl = DFL(REG_MAX)

    def raw_levels(self, xs):
        return [torch.cat((self.cv2[i](xs[i]), self.cv3[i](xs[i])), 1) for i in range(self.nl)]

    def forward(self, xs):
        levels = self.raw_levels(xs)
        return {'out': decode(levels, self.dfl, self.nc, self.stride.tolist()), 'levels': levels}


class DDetect(Detect):
    grouped = True


class DualDDetect(nn.Module):
    """cv2/cv3 on the first half of the inputs (auxiliary branch, dead at inference),
       cv4/cv5 on the second half (main branch = the model's output)."""

    def __init__(self, nc=80, ch=()):
        super().__init__()
        self.nc = nc
        self.nl = len(ch) // 2
        self.no = nc + 4 * REG_MAX
        self.register_buffer('stride', torch.zeros(self.nl), persistent=False)
        c2, c3 = _head_widths(ch[0], nc, True)
        c4, c5 = _head_widths(ch[self.nl], nc, True)
        self.cv2 = nn.ModuleList(_box_branch(x, c2, True) for x in ch[:self.nl])
        self.cv3 = nn.ModuleList(_cls_branch(x, c3, nc) for x in ch[:self.nl])
        self.cv4 = nn.ModuleList(_box_branch(x, c4, True) for x in ch[self.nl:])
        self.cv5 = nn.ModuleList(_cls_branch(x, c5, nc) for x in ch[self.nl:])
        self.dfl = DFL(REG_MAX)
        self.dfl2 = DFL(REG_MAX)

    def forward(self, xs):
        n = self.nl
        aux = [torch.cat((self.cv2[i](xs[i]), self.cv3[i](xs[i])), 1) for i in range(n)]
        main = [torch.cat((self.cv4[i](xs[n + i]), self.cv5[i](xs[n + i])), 1) for i in range(n)]
        s = self.stride.tolist()
        # upstream builds the anchor grid from the aux levels; both sets have the same sizes
        return {'out': decode(main, self.dfl2, self.nc, s, anchor_levels=aux),
                'aux': decode(aux, self.dfl, self.nc, s),
                'levels': main, 'aux_levels': aux}


HEADS = (Detect, DDetect, DualDDetect)

# --------------------------------------------------------------------------------------------
# Builder (upstream parse_model semantics)
# --------------------------------------------------------------------------------------------
MODULES = {
    'Conv': Conv, 'AConv': AConv, 'ADown': ADown, 'ELAN1': ELAN1, 'RepNCSPELAN4': RepNCSPELAN4,
    'SPPELAN': SPPELAN, 'MMQARepNCSPELAN4': MMQARepNCSPELAN4, 'Concat': Concat, 'Silence': Silence,
    'CBLinear': CBLinear, 'CBFuse': CBFuse, 'Detect': Detect, 'DDetect': DDetect,
    'DualDDetect': DualDDetect, 'MultiQueryAttentionLayerWithDownSampling': MultiQueryAttentionLayerWithDownSampling,
    'nn.Upsample': nn.Upsample, 'torch.nn.Upsample': nn.Upsample, 'Upsample': nn.Upsample,
    'RepConvN': RepConvN, 'RepNCSP': RepNCSP,
}
# modules whose args[0] is the output width (scaled by width_multiple unless == no)
WIDTH_SCALED = {Conv, AConv, ADown, ELAN1, RepNCSPELAN4, SPPELAN, MMQARepNCSPELAN4}
# upstream's layer-type string (params table / index.json)
TYPE_NAMES = {Conv: 'models.common.Conv', AConv: 'models.common.AConv', ADown: 'models.common.ADown',
              ELAN1: 'models.common.ELAN1', RepNCSPELAN4: 'models.common.RepNCSPELAN4',
              SPPELAN: 'models.common.SPPELAN', MMQARepNCSPELAN4: 'models.common.MMQARepNCSPELAN4',
              Concat: 'models.common.Concat', Silence: 'models.common.Silence',
              CBLinear: 'models.common.CBLinear', CBFuse: 'models.common.CBFuse',
              Detect: 'models.yolo.Detect', DDetect: 'models.yolo.DDetect',
              DualDDetect: 'models.yolo.DualDDetect', nn.Upsample: 'torch.nn.modules.upsampling.Upsample',
              MultiQueryAttentionLayerWithDownSampling: 'models.common.MultiQueryAttentionLayerWithDownSampling',
              RepConvN: 'models.common.RepConvN', RepNCSP: 'models.common.RepNCSP'}


def _resolve_arg(a, scope):
    """yaml strings in args are Python expressions upstream ('None', 'nc', ...); unknown names
    ('nearest') stay strings."""
    if not isinstance(a, str):
        return a
    try:
        return eval(a, {'__builtins__': {}}, dict(scope))
    except Exception:
        return a


def load_config(cfg):
    import yaml
    if isinstance(cfg, dict):
        return copy.deepcopy(cfg)
    text = cfg
    if '\n' not in cfg and (cfg.endswith('.yaml') or cfg.endswith('.yml')):
        with open(cfg, encoding='utf-8') as f:
            text = f.read()
    return yaml.safe_load(text)


class LayerInfo:
    def __init__(self, i, f, n, type_name, args, c2, params):
        self.i, self.f, self.n, self.type, self.args, self.c2, self.params = i, f, n, type_name, args, c2, params

    def row(self):
        return f'{self.i:>3}{str(self.f):>18}{self.n:>3}{self.params:10.0f}  {self.type:<40}{str(self.args):<30}'


def parse_model(d, ch_in):
    """-> (nn.Sequential of layers with .i/.f/.type set, list of LayerInfo, activation module|None)."""
    nc, gd, gw = d['nc'], d.get('depth_multiple', 1.0), d.get('width_multiple', 1.0)
    anchors = d.get('anchors', 3)
    act = parse_activation(d.get('activation'))
    na = (len(anchors[0]) // 2) if isinstance(anchors, list) else anchors
    no = na * (nc + 5)  # upstream's "number of outputs": a c2 equal to it is not width-scaled
    scope = {'nc': nc, 'anchors': anchors, 'None': None, 'True': True, 'False': False, 'nn': nn}

    saved = _ACTIVATION_PROTOTYPE[0]
    _ACTIVATION_PROTOTYPE[0] = act
    try:
        layers, infos, ch = [], [], [ch_in]
        for i, (f, n, mname, args) in enumerate(d['backbone'] + d['head']):
            if mname not in MODULES:
                raise ValueError(f'layer {i}: unknown module {mname!r}')
            m = MODULES[mname]
            args = [_resolve_arg(a, scope) for a in args]
            n = n_ = max(round(n * gd), 1) if n > 1 else n
            if m in WIDTH_SCALED:
                c1, c2 = ch[f], args[0]
                if c2 != no:
                    c2 = make_divisible(c2 * gw, 8)
                args = [c1, c2, *args[1:]]
            elif m is Concat:
                c2 = sum(ch[x] for x in f)
            elif m is CBLinear:
                c1, c2 = ch[f], args[0]
                args = [c1, c2, *args[1:]]
            elif m is CBFuse:
                c2 = ch[f[-1]]
            elif m in HEADS:
                args.append([ch[x] for x in f])
                c2 = None
            elif m is MultiQueryAttentionLayerWithDownSampling:
                c1 = c2 = ch[f]
                args = [c1, *args]
            else:  # Silence, Upsample, ...
                c2 = ch[f]
            module = nn.Sequential(*[m(*args) for _ in range(n)]) if n > 1 else m(*args)
            params = sum(p.numel() for p in module.parameters())
            type_name = TYPE_NAMES.get(m, mname)
            module.i, module.f, module.type, module.np = i, f, type_name, params
            layers.append(module)
            infos.append(LayerInfo(i, f, n_, type_name, args, c2, params))
            if i == 0:
                ch = []
            ch.append(c2)
    finally:
        _ACTIVATION_PROTOTYPE[0] = saved
    return nn.Sequential(*layers), infos, act


class YoloModel(nn.Module):
    """The whole network. forward(x) -> what upstream feeds to NMS (decoded main branch) for
    configs with a head, else the last layer's output."""

    def __init__(self, cfg, ch=None, nc=None):
        super().__init__()
        self.yaml = load_config(cfg)
        if nc is not None:
            self.yaml['nc'] = nc
        self.ch = int(self.yaml.get('ch', ch if ch is not None else 3))
        self.yaml['ch'] = self.ch
        self.model, self.layer_info, _ = parse_model(self.yaml, self.ch)
        self._strides_ready = False

    @property
    def head(self):  # not a registered attribute: it would duplicate the head's state-dict entries
        last = self.model[-1]
        return last if isinstance(last, HEADS) else None

    # strides = 256 / level height, probed once with a 256x256 input (as upstream)
    def _ensure_strides(self):
        if self.head is None or self._strides_ready:
            return
        p = next(self.parameters())
        probe = torch.zeros(1, self.ch, 256, 256, dtype=p.dtype)
        with torch.no_grad():
            outs = self._run_layers(probe, head_inputs_only=True)
        levels = outs[: self.head.nl]
        self.head.stride.copy_(torch.tensor([256 / t.shape[-2] for t in levels], dtype=self.head.stride.dtype))
        self._strides_ready = True

    def _run_layers(self, x, head_inputs_only=False, keep=None):
        y = []
        for m in self.model:
            if m.f != -1:
                x = y[m.f] if isinstance(m.f, int) else [x if j == -1 else y[j] for j in m.f]
            if head_inputs_only and m is self.head:
                return x
            x = m(x)
            y.append(x)
            if keep is not None:
                keep.append(x)
        return x

    def strides(self):
        self._ensure_strides()
        return self.head.stride.tolist() if self.head is not None else None

    def run(self, x):
        """-> dict(out, layers=[per-layer output: tensor | tuple of tensors | head dict], aux?)."""
        self._ensure_strides()
        keep = []
        last = self._run_layers(x, keep=keep)
        res = {'layers': keep}
        if self.head is not None:
            res['out'] = last['out']
            res['levels'] = last['levels']
            if 'aux' in last:
                res['aux'] = last['aux']
                res['aux_levels'] = last['aux_levels']
        else:
            res['out'] = last
        return res

    def forward(self, x):
        return self.run(x)['out']

    def param_table(self):
        return '\n'.join(info.row() for info in self.layer_info)


def build_model(cfg, ch=None, nc=None):
    return YoloModel(cfg, ch=ch, nc=nc)


def layer_outputs(result):
    """Flatten run()['layers'] into {index: [(suffix, tensor)]} using the fixture file convention:
       layer_XX.npy (tensor) | layer_XX_k.npy (k-th tuple item) | head: decoded main output as
       layer_XX.npy, aux branch as layer_XX_aux.npy, raw per-level maps cat(64 box logits, nc class
       logits) of the main set as layer_XX_level<k>.npy and of the aux set as layer_XX_auxlevel<k>.npy."""
    out = {}
    for i, v in enumerate(result['layers']):
        if isinstance(v, dict):
            items = [('', v['out'])]
            if 'aux' in v:
                items.append(('_aux', v['aux']))
            items += [(f'_level{k}', t) for k, t in enumerate(v['levels'])]
            items += [(f'_auxlevel{k}', t) for k, t in enumerate(v.get('aux_levels', []))]
            out[i] = items
        elif isinstance(v, (tuple, list)):
            out[i] = [(f'_{k}', t) for k, t in enumerate(v)]
        else:
            out[i] = [('', v)]
    return out
