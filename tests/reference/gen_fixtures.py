#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""Generate the committed golden fixtures under tests/data/ref/ with the yv9ref reference.

Each case is a directory:
  model.yaml            the config (exact text, also embedded in model.bin's metadata)
  model.bin             yv9 weight file v1 (write_bin.py): fp32, state-dict order, incl. BN num_batches_tracked (I64)
  in_HxW.npy            float32 (1, ch, H, W)
  out_HxW.npy           float32: decoded head output (1, 4+nc, A) (main branch for DualDDetect), or the last
                        layer's output for head-less configs
  layers_HxW/layer_XX[_suffix].npy   every layer's output (see case.json "files")
  case.json             what it covers, shapes, noise floors, tolerances (format: tests/data/ref/README.md)

Weights are made informative (see prepare_weights): BatchNorm statistics/affine randomised, then one
calibration pass rescales every conv so activations stay O(1), head logits get a useful spread and the
attention is peaky but not one-hot.

Noise floor of an output = max |fp32 reference - X| over X in {same model in float64, fp32 model with
BatchNorm folded and RepConvN fused (what an engine does)}; boxes (rows 0..3, px) and scores (rows 4..)
separately for decoded head outputs. Suggested tolerance = 10 x floor rounded up to 1/2/5*10^k, >= 1e-6.

Usage: gen_fixtures.py [--out DIR] [--only NAME[,NAME...]] [--list]
"""
import argparse
import copy
import json
import math
import os
import shutil
import sys
import zlib

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import yv9ref  # noqa: E402
from write_bin import write_bin  # noqa: E402

DEFAULT_OUT = os.path.normpath(os.path.join(HERE, '..', 'data', 'ref'))

# ------------------------------------------------------------------------------------------------
# Configs. Channel counts are tiny on purpose (whole tests/data/ref < ~6 MB). Note that upstream only
# width-scales args[0]; inner widths (c3, c4) and CBLinear lists are NOT scaled, so they are written
# small directly, and CBLinear lists must equal the (scaled) widths of the aux levels they feed.
# ------------------------------------------------------------------------------------------------
V9C = """# yolov9-c topology (Silence, CBLinear/CBFuse, DualDDetect + aux branch) at tiny width, nc 3
nc: 3  # number of classes
depth_multiple: 1.0
width_multiple: 0.125  # args[0] 32, 64 -> 8 (make_divisible(x * 0.125, 8)); 96 -> 16
anchors: 3

backbone:
  [
   [-1, 1, Silence, []],  # 0
   [-1, 1, Conv, [32, 3, 2]],  # 1-P1/2
   [-1, 1, Conv, [64, 3, 2]],  # 2-P2/4
   [-1, 1, RepNCSPELAN4, [64, 16, 8, 1]],  # 3
   [-1, 1, ADown, [64]],  # 4-P3/8
   [-1, 1, RepNCSPELAN4, [64, 16, 8, 1]],  # 5
   [-1, 1, ADown, [64]],  # 6-P4/16
   [-1, 1, RepNCSPELAN4, [64, 16, 8, 1]],  # 7
   [-1, 1, ADown, [64]],  # 8-P5/32
   [-1, 1, RepNCSPELAN4, [64, 16, 8, 1]],  # 9
  ]

head:
  [
   [-1, 1, SPPELAN, [64, 8]],  # 10
   [-1, 1, nn.Upsample, [None, 2, 'nearest']],
   [[-1, 7], 1, Concat, [1]],  # cat backbone P4
   [-1, 1, RepNCSPELAN4, [64, 16, 8, 1]],  # 13
   [-1, 1, nn.Upsample, [None, 2, 'nearest']],
   [[-1, 5], 1, Concat, [1]],  # cat backbone P3
   [-1, 1, RepNCSPELAN4, [64, 16, 8, 1]],  # 16 (P3/8-small)
   [-1, 1, ADown, [64]],
   [[-1, 13], 1, Concat, [1]],  # cat head P4
   [-1, 1, RepNCSPELAN4, [64, 16, 8, 1]],  # 19 (P4/16-medium)
   [-1, 1, ADown, [64]],
   [[-1, 10], 1, Concat, [1]],  # cat head P5
   [-1, 1, RepNCSPELAN4, [64, 16, 8, 1]],  # 22 (P5/32-large)

   # multi-level reversible auxiliary branch
   [5, 1, CBLinear, [[8]]],  # 23
   [7, 1, CBLinear, [[8, 8]]],  # 24
   [9, 1, CBLinear, [[8, 8, 8]]],  # 25
   [0, 1, Conv, [32, 3, 2]],  # 26-P1/2
   [-1, 1, Conv, [64, 3, 2]],  # 27-P2/4
   [-1, 1, RepNCSPELAN4, [64, 16, 8, 1]],  # 28
   [-1, 1, ADown, [64]],  # 29-P3/8
   [[23, 24, 25, -1], 1, CBFuse, [[0, 0, 0]]],  # 30
   [-1, 1, RepNCSPELAN4, [64, 16, 8, 1]],  # 31
   [-1, 1, ADown, [64]],  # 32-P4/16
   [[24, 25, -1], 1, CBFuse, [[1, 1]]],  # 33
   [-1, 1, RepNCSPELAN4, [64, 16, 8, 1]],  # 34
   [-1, 1, ADown, [64]],  # 35-P5/32
   [[25, -1], 1, CBFuse, [[2]]],  # 36
   [-1, 1, RepNCSPELAN4, [64, 16, 8, 1]],  # 37

   [[31, 34, 37, 16, 19, 22], 1, DualDDetect, [nc]],  # DualDDetect(A3, A4, A5, P3, P4, P5)
  ]
"""

V9E = """# yolov9-e topology (CBLinear from 5 levels, CBFuse across levels -> real nearest resizing, ELAN ordering,
# RepNCSP with 2 bottlenecks) at tiny width, nc 2
nc: 2
depth_multiple: 1.0
width_multiple: 0.125
anchors: 3

backbone:
  [
   [-1, 1, Silence, []],
   [-1, 1, Conv, [32, 3, 2]],  # 1-P1/2 (8)
   [-1, 1, Conv, [64, 3, 2]],  # 2-P2/4 (8)
   [-1, 1, RepNCSPELAN4, [64, 16, 8, 2]],  # 3
   [-1, 1, ADown, [64]],  # 4-P3/8
   [-1, 1, RepNCSPELAN4, [64, 16, 8, 2]],  # 5
   [-1, 1, ADown, [64]],  # 6-P4/16
   [-1, 1, RepNCSPELAN4, [64, 16, 8, 2]],  # 7
   [-1, 1, ADown, [64]],  # 8-P5/32
   [-1, 1, RepNCSPELAN4, [64, 16, 8, 2]],  # 9

   # routing
   [1, 1, CBLinear, [[8]]],  # 10
   [3, 1, CBLinear, [[8, 8]]],  # 11
   [5, 1, CBLinear, [[8, 8, 8]]],  # 12
   [7, 1, CBLinear, [[8, 8, 8, 8]]],  # 13
   [9, 1, CBLinear, [[8, 8, 8, 8, 8]]],  # 14

   # conv down fuse
   [0, 1, Conv, [32, 3, 2]],  # 15-P1/2
   [[10, 11, 12, 13, 14, -1], 1, CBFuse, [[0, 0, 0, 0, 0]]],  # 16
   [-1, 1, Conv, [64, 3, 2]],  # 17-P2/4
   [[11, 12, 13, 14, -1], 1, CBFuse, [[1, 1, 1, 1]]],  # 18
   [-1, 1, RepNCSPELAN4, [64, 16, 8, 2]],  # 19
   [-1, 1, ADown, [64]],  # 20-P3/8
   [[12, 13, 14, -1], 1, CBFuse, [[2, 2, 2]]],  # 21
   [-1, 1, RepNCSPELAN4, [64, 16, 8, 2]],  # 22
   [-1, 1, ADown, [64]],  # 23-P4/16
   [[13, 14, -1], 1, CBFuse, [[3, 3]]],  # 24
   [-1, 1, RepNCSPELAN4, [64, 16, 8, 2]],  # 25
   [-1, 1, ADown, [64]],  # 26-P5/32
   [[14, -1], 1, CBFuse, [[4]]],  # 27
   [-1, 1, RepNCSPELAN4, [64, 16, 8, 2]],  # 28
  ]

head:
  [
   [9, 1, SPPELAN, [64, 8]],  # 29
   [-1, 1, nn.Upsample, [None, 2, 'nearest']],
   [[-1, 7], 1, Concat, [1]],
   [-1, 1, RepNCSPELAN4, [64, 16, 8, 2]],  # 32
   [-1, 1, nn.Upsample, [None, 2, 'nearest']],
   [[-1, 5], 1, Concat, [1]],
   [-1, 1, RepNCSPELAN4, [64, 16, 8, 2]],  # 35
   [28, 1, SPPELAN, [64, 8]],  # 36
   [-1, 1, nn.Upsample, [None, 2, 'nearest']],
   [[-1, 25], 1, Concat, [1]],
   [-1, 1, RepNCSPELAN4, [64, 16, 8, 2]],  # 39
   [-1, 1, nn.Upsample, [None, 2, 'nearest']],
   [[-1, 22], 1, Concat, [1]],
   [-1, 1, RepNCSPELAN4, [64, 16, 8, 2]],  # 42 (P3/8-small)
   [-1, 1, ADown, [64]],
   [[-1, 39], 1, Concat, [1]],
   [-1, 1, RepNCSPELAN4, [64, 16, 8, 2]],  # 45 (P4/16-medium)
   [-1, 1, ADown, [64]],
   [[-1, 36], 1, Concat, [1]],
   [-1, 1, RepNCSPELAN4, [64, 32, 16, 2]],  # 48 (P5/32-large)
   [[35, 32, 29, 42, 45, 48], 1, DualDDetect, [nc]],  # DualDDetect(A3, A4, A5, P3, P4, P5)
  ]
"""

V9M = """# yolov9-m topology (AConv, CBLinear/CBFuse, DualDDetect) with depth_multiple 0.33, nc 1.
# Repeats: n = max(round(n * 0.33), 1) if n > 1: layer 5 n=6 -> 2 copies (model.5.0 / model.5.1),
# layer 7 n=3 -> 1 (plain module), layer 9 n=8 -> 3 copies, layer 31 n=2 -> 1.
# Upstream quirk: a width equal to no = anchors*(nc+5) = 18 is NOT width-scaled (layer 1: 18 stays 18;
# any other 18 would become make_divisible(18 * 0.125, 8) = 8).
nc: 1
depth_multiple: 0.33
width_multiple: 0.125
anchors: 3

backbone:
  [
   [-1, 1, Silence, []],
   [-1, 1, Conv, [18, 3, 2]],  # 1-P1/2 (18, the c2 == no quirk)
   [-1, 1, Conv, [64, 3, 2]],  # 2-P2/4 (8)
   [-1, 1, RepNCSPELAN4, [64, 16, 8, 1]],  # 3
   [-1, 1, AConv, [96]],  # 4-P3/8 (16)
   [-1, 6, RepNCSPELAN4, [96, 24, 8, 1]],  # 5  (2 copies)
   [-1, 1, AConv, [96]],  # 6-P4/16
   [-1, 3, RepNCSPELAN4, [96, 16, 8, 1]],  # 7  (1)
   [-1, 1, AConv, [96]],  # 8-P5/32
   [-1, 8, RepNCSPELAN4, [96, 16, 8, 1]],  # 9  (3 copies)
  ]

head:
  [
   [-1, 1, SPPELAN, [64, 8]],  # 10
   [-1, 1, nn.Upsample, [None, 2, 'nearest']],
   [[-1, 7], 1, Concat, [1]],
   [-1, 1, RepNCSPELAN4, [64, 16, 8, 1]],  # 13
   [-1, 1, nn.Upsample, [None, 2, 'nearest']],
   [[-1, 5], 1, Concat, [1]],
   [-1, 1, RepNCSPELAN4, [64, 16, 8, 1]],  # 16
   [-1, 1, AConv, [48]],
   [[-1, 13], 1, Concat, [1]],
   [-1, 1, RepNCSPELAN4, [64, 16, 8, 1]],  # 19 (P4/16-medium)
   [-1, 1, AConv, [64]],
   [[-1, 10], 1, Concat, [1]],
   [-1, 1, RepNCSPELAN4, [64, 16, 8, 1]],  # 22 (P5/32-large)

   [5, 1, CBLinear, [[16]]],  # 23
   [7, 1, CBLinear, [[16, 16]]],  # 24
   [9, 1, CBLinear, [[16, 16, 16]]],  # 25
   [0, 1, Conv, [32, 3, 2]],  # 26-P1/2
   [-1, 1, Conv, [64, 3, 2]],  # 27-P2/4
   [-1, 1, RepNCSPELAN4, [64, 16, 8, 1]],  # 28
   [-1, 1, AConv, [96]],  # 29-P3/8
   [[23, 24, 25, -1], 1, CBFuse, [[0, 0, 0]]],  # 30
   [-1, 2, RepNCSPELAN4, [64, 16, 8, 1]],  # 31 (n=2 -> 1)
   [-1, 1, AConv, [96]],  # 32-P4/16
   [[24, 25, -1], 1, CBFuse, [[1, 1]]],  # 33
   [-1, 1, RepNCSPELAN4, [64, 16, 8, 1]],  # 34
   [-1, 1, AConv, [96]],  # 35-P5/32
   [[25, -1], 1, CBFuse, [[2]]],  # 36
   [-1, 1, RepNCSPELAN4, [64, 16, 8, 1]],  # 37
   [[31, 34, 37, 16, 19, 22], 1, DualDDetect, [nc]],  # DualDDetect(A3, A4, A5, P3, P4, P5)
  ]
"""

GELAN_RELU = """# gelan.yaml topology (strided Conv downsampling) with activation nn.ReLU(), tiny width, DDetect nc 1
nc: 1
depth_multiple: 1.0
width_multiple: 0.125
activation: nn.ReLU()
anchors: 3

backbone:
  [
   [-1, 1, Conv, [32, 3, 2]],  # 0-P1/2
   [-1, 1, Conv, [64, 3, 2]],  # 1-P2/4
   [-1, 1, RepNCSPELAN4, [64, 16, 8, 1]],  # 2
   [-1, 1, Conv, [64, 3, 2]],  # 3-P3/8
   [-1, 1, RepNCSPELAN4, [64, 16, 8, 1]],  # 4
   [-1, 1, Conv, [64, 3, 2]],  # 5-P4/16
   [-1, 1, RepNCSPELAN4, [64, 16, 8, 1]],  # 6
   [-1, 1, Conv, [64, 3, 2]],  # 7-P5/32
   [-1, 1, RepNCSPELAN4, [64, 16, 8, 1]],  # 8
  ]

head:
  [
   [-1, 1, SPPELAN, [64, 8]],  # 9
   [-1, 1, nn.Upsample, [None, 2, 'nearest']],
   [[-1, 6], 1, Concat, [1]],
   [-1, 1, RepNCSPELAN4, [64, 16, 8, 1]],  # 12
   [-1, 1, nn.Upsample, [None, 2, 'nearest']],
   [[-1, 4], 1, Concat, [1]],
   [-1, 1, RepNCSPELAN4, [64, 16, 8, 1]],  # 15 (P3/8-small)
   [-1, 1, Conv, [64, 3, 2]],
   [[-1, 12], 1, Concat, [1]],
   [-1, 1, RepNCSPELAN4, [64, 16, 8, 1]],  # 18 (P4/16-medium)
   [-1, 1, Conv, [64, 3, 2]],
   [[-1, 9], 1, Concat, [1]],
   [-1, 1, RepNCSPELAN4, [64, 16, 8, 1]],  # 21 (P5/32-large)
   [[15, 18, 21], 1, DDetect, [nc]],  # DDetect(P3, P4, P5)
  ]
"""

GELAN_LEAKY = """# gelan-s topology (ELAN1, AConv) with activation nn.LeakyReLU(0.1), tiny width, DDetect nc 3
nc: 3
depth_multiple: 1.0
width_multiple: 0.125
activation: nn.LeakyReLU(0.1)
anchors: 3

backbone:
  [
   [-1, 1, Conv, [32, 3, 2]],  # 0-P1/2
   [-1, 1, Conv, [64, 3, 2]],  # 1-P2/4
   [-1, 1, ELAN1, [64, 16, 8]],  # 2
   [-1, 1, AConv, [64]],  # 3-P3/8
   [-1, 1, RepNCSPELAN4, [64, 16, 8, 2]],  # 4
   [-1, 1, AConv, [64]],  # 5-P4/16
   [-1, 1, RepNCSPELAN4, [64, 16, 8, 2]],  # 6
   [-1, 1, AConv, [64]],  # 7-P5/32
   [-1, 1, RepNCSPELAN4, [64, 16, 8, 2]],  # 8
  ]

head:
  [
   [-1, 1, SPPELAN, [64, 8]],  # 9
   [-1, 1, nn.Upsample, [None, 2, 'nearest']],
   [[-1, 6], 1, Concat, [1]],
   [-1, 1, RepNCSPELAN4, [64, 16, 8, 2]],  # 12
   [-1, 1, nn.Upsample, [None, 2, 'nearest']],
   [[-1, 4], 1, Concat, [1]],
   [-1, 1, RepNCSPELAN4, [64, 16, 8, 2]],  # 15
   [-1, 1, AConv, [48]],
   [[-1, 12], 1, Concat, [1]],
   [-1, 1, RepNCSPELAN4, [64, 16, 8, 2]],  # 18 (P4/16-medium)
   [-1, 1, AConv, [64]],
   [[-1, 9], 1, Concat, [1]],
   [-1, 1, RepNCSPELAN4, [64, 16, 8, 2]],  # 21 (P5/32-large)
   [[15, 18, 21], 1, DDetect, [nc]],  # DDetect(P3, P4, P5)
  ]
"""

GELAN_DETECT = """# gelan-t topology with the plain Detect head (no grouped box branch, no make_divisible), nc 4
nc: 4
depth_multiple: 1.0
width_multiple: 0.125
anchors: 3

backbone:
  [
   [-1, 1, Conv, [32, 3, 2]],  # 0-P1/2
   [-1, 1, Conv, [64, 3, 2]],  # 1-P2/4
   [-1, 1, ELAN1, [64, 16, 8]],  # 2
   [-1, 1, AConv, [64]],  # 3-P3/8
   [-1, 1, RepNCSPELAN4, [64, 16, 8, 1]],  # 4
   [-1, 1, AConv, [64]],  # 5-P4/16
   [-1, 1, RepNCSPELAN4, [64, 16, 8, 1]],  # 6
   [-1, 1, AConv, [64]],  # 7-P5/32
   [-1, 1, RepNCSPELAN4, [64, 16, 8, 1]],  # 8
  ]

head:
  [
   [-1, 1, SPPELAN, [64, 8]],  # 9
   [-1, 1, nn.Upsample, [None, 2, 'nearest']],
   [[-1, 6], 1, Concat, [1]],
   [-1, 1, RepNCSPELAN4, [64, 16, 8, 1]],  # 12
   [-1, 1, nn.Upsample, [None, 2, 'nearest']],
   [[-1, 4], 1, Concat, [1]],
   [-1, 1, RepNCSPELAN4, [64, 16, 8, 1]],  # 15
   [-1, 1, AConv, [48]],
   [[-1, 12], 1, Concat, [1]],
   [-1, 1, RepNCSPELAN4, [64, 16, 8, 1]],  # 18
   [-1, 1, AConv, [64]],
   [[-1, 9], 1, Concat, [1]],
   [-1, 1, RepNCSPELAN4, [64, 16, 8, 1]],  # 21
   [[15, 18, 21], 1, Detect, [nc]],  # Detect(P3, P4, P5)
  ]
"""

MMQA = """# gelan-t-MMQA topology at tiny width: MMQARepNCSPELAN4 with c4 = 16, i.e. each block holds two
# MultiQueryAttentionLayerWithDownSampling(16, 8, 48, 48, 1, 1, 1) (head_dim 6, V read as [L, 48]); nc 2
nc: 2
depth_multiple: 1.0
width_multiple: 0.125
anchors: 3

backbone:
  [
   [-1, 1, Conv, [32, 3, 2]],  # 0-P1/2
   [-1, 1, Conv, [64, 3, 2]],  # 1-P2/4
   [-1, 1, ELAN1, [64, 16, 8]],  # 2
   [-1, 1, AConv, [64]],  # 3-P3/8
   [-1, 1, MMQARepNCSPELAN4, [64, 32, 16, 1]],  # 4
   [-1, 1, AConv, [64]],  # 5-P4/16
   [-1, 1, MMQARepNCSPELAN4, [64, 32, 16, 1]],  # 6
   [-1, 1, AConv, [64]],  # 7-P5/32
   [-1, 1, RepNCSPELAN4, [64, 16, 8, 1]],  # 8
  ]

head:
  [
   [-1, 1, SPPELAN, [64, 8]],  # 9
   [-1, 1, nn.Upsample, [None, 2, 'nearest']],
   [[-1, 6], 1, Concat, [1]],
   [-1, 1, RepNCSPELAN4, [64, 16, 8, 1]],  # 12
   [-1, 1, nn.Upsample, [None, 2, 'nearest']],
   [[-1, 4], 1, Concat, [1]],
   [-1, 1, RepNCSPELAN4, [64, 16, 8, 1]],  # 15
   [-1, 1, AConv, [48]],
   [[-1, 12], 1, Concat, [1]],
   [-1, 1, RepNCSPELAN4, [64, 16, 8, 1]],  # 18
   [-1, 1, AConv, [64]],
   [[-1, 9], 1, Concat, [1]],
   [-1, 1, RepNCSPELAN4, [64, 16, 8, 1]],  # 21
   [[15, 18, 21], 1, DDetect, [nc]],
  ]
"""

MQA_STANDALONE = """# Standalone Mobile-MQA layers in a yaml (args [num_heads, key_dim, value_dim, qh, qw, kv(, dw_k)],
# the layer keeps its input's channel count). Head-less: the output is the last layer.
# layer 1: 3 heads, key_dim 16 -> head_dim 16 // 3 = 5 (scale 1/sqrt(5)); q avg-pooled (2, 1) + BN;
#          K/V through depthwise 3x3 stride 2 + BN.  layer 2: q pooled (1, 2), K/V depthwise 5x5 stride 2.
nc: 1
depth_multiple: 1.0
width_multiple: 1.0
anchors: 3
ch: 8

backbone:
  [
   [-1, 1, Conv, [16, 3, 1]],  # 0
   [-1, 1, MultiQueryAttentionLayerWithDownSampling, [3, 16, 16, 2, 1, 2]],  # 1: H/2 x W
   [-1, 1, MultiQueryAttentionLayerWithDownSampling, [2, 8, 24, 1, 2, 2, 5]],  # 2: H/2 x W/2
   [-1, 1, Conv, [16, 1, 1]],  # 3
  ]

head:
  [
  ]
"""


def module_yaml(title, layers, ch, act=None):
    body = '\n'.join(f'   {l},' for l in layers)
    act_line = f'activation: {act}\n' if act else ''
    return (f'# {title}\nnc: 1\ndepth_multiple: 1.0\nwidth_multiple: 1.0\n{act_line}anchors: 3\nch: {ch}\n\n'
            f'backbone:\n  [\n{body}\n  ]\n\nhead:\n  [\n  ]\n')


MODULE_CASES = [
    ('mod-conv-k1', 'Conv k=1 s=1 (8 -> 16 channels)', ['[-1, 1, Conv, [16, 1, 1]]'], 8),
    ('mod-conv-k3s2', 'Conv k=3 s=2 (pad 1; odd input -> ceil(H/2))', ['[-1, 1, Conv, [16, 3, 2]]'], 8),
    ('mod-conv-k5', 'Conv k=5 s=1 (pad 2)', ['[-1, 1, Conv, [12, 5, 1]]'], 8),
    ('mod-conv-g4-d2', 'Conv k=3 s=1 groups=4 dilation=2 via args [c2, k, s, None, g, d] (autopad -> 2)',
     ['[-1, 1, Conv, [16, 3, 1, None, 4, 2]]'], 16),
    ('mod-conv-s2-d2', 'Conv k=3 s=2 dilation=2 groups=2 (autopad 2)', ['[-1, 1, Conv, [16, 3, 2, None, 2, 2]]'], 8),
    ('mod-adown', 'ADown (avg 2x2 s1, chunk; conv 3x3 s2 on one half, max 3x3 s2 p1 + conv 1x1 on the other)', ['[-1, 1, ADown, [16]]'], 16),
    ('mod-aconv', 'AConv (avg 2x2 s1 + conv 3x3 s2 p1)', ['[-1, 1, AConv, [16]]'], 12),
    ('mod-sppelan', 'SPPELAN (cv1 + three chained max 5x5 s1 p2 + cv5 on the concat)', ['[-1, 1, SPPELAN, [16, 8]]'], 12),
    ('mod-elan1', 'ELAN1 (chunk, two chained 3x3 Convs, 1x1 fuse)', ['[-1, 1, ELAN1, [16, 16, 8]]'], 12),
    ('mod-repncspelan4', 'RepNCSPELAN4 with c5=2 (RepNCSP with 2 RepNBottlenecks, RepConvN, residual adds)',
     ['[-1, 1, RepNCSPELAN4, [16, 16, 8, 2]]'], 16),
    ('mod-upsample-concat', 'Conv s2, nn.Upsample(None, 2, nearest) and Concat of [-1, 0] (odd sizes: 13 -> 7 -> 14)',
     ['[-1, 1, Silence, []]', '[-1, 1, Conv, [8, 3, 2]]', "[-1, 1, nn.Upsample, [None, 2, 'nearest']]",
      '[0, 1, Conv, [8, 3, 2]]', "[-1, 1, nn.Upsample, [None, 2, 'nearest']]", '[[-1, 2], 1, Concat, [1]]'], 8),
    ('mod-cblinear-cbfuse', 'CBLinear (conv with bias, split) + CBFuse with legacy-nearest resize up AND down by '
     'non-integer ratios (13x17: 4x5 -> 7x9 and 7x9 -> 4x5), picking several split indices',
     ['[-1, 1, Conv, [16, 3, 2]]',             # 0: 1/2 (7x9 for 13x17)
      '[-1, 1, CBLinear, [[8, 16, 8]]]',       # 1: tuple of 3 at 1/2
      '[0, 1, Conv, [16, 3, 2]]',              # 2: 1/4 (4x5)
      '[-1, 1, CBLinear, [[16, 8]]]',          # 3: tuple of 2 at 1/4
      '[0, 1, Conv, [8, 1, 1]]',               # 4: target at 1/2 (8 ch)
      '[[1, 3, -1], 1, CBFuse, [[2, 1]]]',     # 5: 8 ch: 1/2 split 2 as is + 1/4 split 1 up-resized
      '[2, 1, Conv, [16, 1, 1]]',              # 6: target at 1/4 (16 ch)
      '[[1, 3, -1], 1, CBFuse, [[1, 0]]]',     # 7: 16 ch: 1/2 split 1 down-resized + 1/4 split 0 as is
      ], 8),
    ('mod-silence-relu6-act', 'Silence + Conv under activation nn.ReLU6() (activation override in a head-less model)',
     ['[-1, 1, Silence, []]', '[-1, 1, Conv, [8, 3, 1]]'], 8),
]


# ------------------------------------------------------------------------------------------------
# Case table
# ------------------------------------------------------------------------------------------------
def cases():
    c = [
        dict(name='v9c-small', calib=(128, 160), yaml=V9C, sizes=[(64, 64), (29, 61)], layers=[(29, 61)],
             covers=['yolov9-c topology', 'Silence', 'CBLinear', 'CBFuse (idx 0/1/2, same-size inputs)',
                     'ADown', 'RepNCSPELAN4', 'SPPELAN', 'Upsample', 'Concat', 'DualDDetect (main + aux)',
                     'width_multiple 0.125', 'odd non-square input (29x61: Conv s2 ceil, ADown floor; P5 1x2)'],
             desc='yolov9-c topology at tiny width, nc 3; layer_38.npy = main branch (= out), '
                  'layer_38_aux.npy = auxiliary branch (dead at inference)'),
        dict(name='v9e-small', calib=(128, 160), yaml=V9E, sizes=[(29, 61), (61, 29)], layers=[(29, 61)],
             covers=['yolov9-e topology', 'CBLinear from 5 levels', 'CBFuse with nearest up-resizing by 2/4/8/16 '
                     'and non-integer ratios on odd inputs', 'RepNCSP n=2', 'DualDDetect with aux inputs from the '
                     'head and main from the second backbone', 'SPPELAN from a non-adjacent layer'],
             desc='yolov9-e topology at tiny width, nc 2'),
        dict(name='v9m-small-depth', calib=(128, 160), yaml=V9M, sizes=[(32, 64), (64, 32)], layers=[(32, 64)],
             covers=['yolov9-m topology', 'AConv', 'depth_multiple 0.33: n=6 -> Sequential of 2, n=8 -> 3, '
                     'n=3 and n=2 -> 1 plain module', 'c2 == no quirk (Conv 18 not width-scaled)',
                     'DualDDetect nc=1'],
             desc='yolov9-m topology with repeated layers (state names model.5.0.*, model.5.1.*, model.9.2.*), nc 1'),
        dict(name='gelan-relu-nc1', calib=(128, 160), yaml=GELAN_RELU, sizes=[(29, 61), (61, 32)], layers=[(29, 61)],
             covers=['gelan.yaml topology (strided Conv downsampling)', 'activation: nn.ReLU() in Conv, RepConvN '
                     'and head Convs', 'DDetect nc=1'],
             desc='gelan topology with ReLU, nc 1'),
        dict(name='gelan-leaky-nc3', calib=(128, 160), yaml=GELAN_LEAKY, sizes=[(32, 32), (32, 64)], layers=[(32, 32)],
             covers=['gelan-s topology (ELAN1, AConv)', 'activation: nn.LeakyReLU(0.1)', 'RepNCSP n=2',
                     'DDetect nc=3'],
             desc='gelan-s topology with LeakyReLU(0.1), nc 3'),
        dict(name='gelan-detect-nc4', calib=(128, 160), yaml=GELAN_DETECT, sizes=[(32, 32), (64, 32)], layers=[(32, 32)],
             covers=['Detect head (ungrouped box branch, c2 = max(ch0//4, 64, 16) without make_divisible)',
                     'portrait input'],
             desc='gelan-t topology with the plain Detect head, nc 4'),
        dict(name='mmqa-small', calib=(128, 160), yaml=MMQA, sizes=[(64, 64), (32, 64), (29, 61)], layers=[(32, 64)],
             covers=['MMQARepNCSPELAN4 (c4=16 -> MQA(16, 8, 48, 48, 1, 1, 1))', 'seed view semantics '
                     '(Q [nh,Lq,kd], K [kd,Lk], V [Lk,kd] raw reinterpretations)', 'general view for non-square '
                     '(Hq x Wq)', 'DDetect nc=2'],
             desc='MMQA backbone blocks at P3 and P4 at tiny width, nc 2'),
        dict(name='mqa-standalone', calib=(24, 32), yaml=MQA_STANDALONE, sizes=[(20, 28), (15, 22)], layers=True, dist='normal',
             covers=['standalone MultiQueryAttentionLayerWithDownSampling in a yaml (keeps input channels)',
                     'query avg-pool strides (2,1) and (1,2) + _query_downsampling_norm', 'kv_strides 2 with '
                     'depthwise 3x3 and 5x5 (dw_k arg) + BN', 'head_dim = key_dim // num_heads = 16 // 3 = 5',
                     'value_dim unused (24 != key_dim 8)', 'odd, non-square inputs', 'top-level ch: 8'],
             desc='two standalone MQA layers between Convs, head-less, ch 8'),
    ]
    for name, title, layers, ch in MODULE_CASES:
        act = 'nn.ReLU6()' if 'relu6' in name else None
        c.append(dict(name=name, yaml=module_yaml(title, layers, ch, act), sizes=[(13, 17), (16, 12)], layers=True,
                      dist='normal', covers=[title], desc=title + f' (head-less, ch {ch})'))
    return c


# ------------------------------------------------------------------------------------------------
# Weight preparation
# ------------------------------------------------------------------------------------------------
def randomise_bn(model, gen):
    for m in model.modules():
        if isinstance(m, nn.BatchNorm2d):
            m.running_var.uniform_(0.5, 2.0, generator=gen)
            m.running_mean.uniform_(-0.5, 0.5, generator=gen)
            m.weight.data.uniform_(0.8, 1.2, generator=gen)
            m.bias.data.uniform_(-0.2, 0.2, generator=gen)


def _rms(t):
    return t.pow(2).mean((0, 2, 3)).sqrt().clamp_min(1e-12)


def conv_roles(model):
    """nn.Conv2d -> how calibration treats it."""
    roles = {}
    for m in model.modules():
        if isinstance(m, yv9ref.Conv):
            roles[m.conv] = ('bn', m.bn)
        elif isinstance(m, yv9ref.CBLinear):
            roles[m.conv] = ('plain', 1.0, (-0.2, 0.2))
        elif isinstance(m, yv9ref.MultiQueryAttentionLayerWithDownSampling):
            for c in m.modules():
                if isinstance(c, nn.Conv2d):
                    roles[c] = ('mqa',)
        elif isinstance(m, yv9ref.DFL):
            roles[m.conv] = ('fixed',)
        elif isinstance(m, (yv9ref.Detect, yv9ref.DualDDetect)):
            boxes = list(m.cv2) + (list(m.cv4) if hasattr(m, 'cv4') else [])
            clss = list(m.cv3) + (list(m.cv5) if hasattr(m, 'cv5') else [])
            for seq in boxes:
                roles[seq[-1]] = ('plain', 1.5, (-0.5, 0.5))     # box DFL logits: std 1.5
            for seq in clss:
                roles[seq[-1]] = ('plain', 2.0, (-1.5, 0.5))     # class logits: std 2, bias U[-1.5, 0.5]
    missing = [n for n, c in model.named_modules() if isinstance(c, nn.Conv2d) and c not in roles]
    if missing:
        raise RuntimeError(f'conv without calibration role: {missing[:5]}')
    return roles


def _conv_hook(role, gen, shrink_only=False):
    """Forward hook rescaling the conv (per output channel) as data flows; shrink_only: never amplify,
    only pull channels more than 25% above target back (second pass at the fixture sizes)."""
    def hook(mod, inp, out):
        if role[0] == 'bn':
            s = role[1].running_var.sqrt() / _rms(out)
            if shrink_only:
                s = (1.25 * s).clamp(max=1.0)
            mod.weight.data.mul_(s.view(-1, 1, 1, 1))
            return out * s.view(1, -1, 1, 1)
        if role[0] == 'plain':
            target, (lo, hi) = role[1], role[2]
            raw = out - mod.bias.view(1, -1, 1, 1)
            mu = raw.mean((0, 2, 3))
            sd = (raw - mu.view(1, -1, 1, 1)).pow(2).mean((0, 2, 3)).sqrt().clamp_min(1e-12)
            s = target / sd
            if shrink_only:
                s = (1.25 * s).clamp(max=1.0)
                mod.weight.data.mul_(s.view(-1, 1, 1, 1))
                return raw * s.view(1, -1, 1, 1) + mod.bias.view(1, -1, 1, 1)
            mod.weight.data.mul_(s.view(-1, 1, 1, 1))
            mod.bias.data.copy_(-mu * s + torch.empty_like(mu).uniform_(lo, hi, generator=gen))
            return raw * s.view(1, -1, 1, 1) + mod.bias.view(1, -1, 1, 1)
        return None
    return hook


def _normalise_proj(conv, x, target=1.0):
    out = conv(x)
    conv.weight.data.mul_((target / _rms(out)).view(-1, 1, 1, 1))
    return conv(x)


def _mqa_attention(m, q, k):
    bs = q.shape[0]
    qm = q.reshape(bs, m.num_heads, -1, m.key_dim)
    km = k.reshape(bs, 1, m.key_dim, -1)
    return F.softmax(torch.matmul(qm, km) / (m.head_dim ** 0.5), dim=-1)


def _mqa_context(m, q, k, v):
    bs = q.shape[0]
    probs = _mqa_attention(m, q, k)
    ctx = torch.matmul(probs, v.reshape(bs, 1, -1, m.key_dim)).reshape(bs, m.num_heads * m.key_dim,
                                                                          q.shape[2], q.shape[3])
    return probs, ctx


def _q_scale_for(m, q, k, target, lo=-8.0, hi=4.0):
    """scalar s (bisection on log s) with mean max attention probability of (s q, k) = target."""
    for _ in range(50):
        mid = 0.5 * (lo + hi)
        p = _mqa_attention(m, q * math.exp(mid), k).amax(-1).mean().item()
        lo, hi = (mid, hi) if p < target else (lo, mid)
    return math.exp(0.5 * (lo + hi))


def _mqa_pre_hook(stats, shrink_only=False):
    """Calibrate one MQA on its actual input: dw convs to their BN's sqrt(running_var), q/k/v
    projections to RMS 1, then q scaled so the mean max attention probability is ~0.3 (peaky, not
    one-hot), output projection to RMS 1. shrink_only: only reduce the q scale where attention got
    peakier than 0.5 (the raw `view`s make the score scale depend on the feature-map geometry) and
    pull the output back if its RMS exceeds 1.25."""
    def hook(m, args):
        x = args[0]
        if m.query_h_strides > 1 or m.query_w_strides > 1:
            xq = m._query_downsampling_norm(F.avg_pool2d(x, (m.query_h_strides, m.query_w_strides)))
        else:
            xq = x
        if shrink_only:
            q = m._query_proj(xq)
            k = m._key_proj(m._key_dw_conv(x) if m.kv_strides > 1 else x)
            v = m._value_proj(m._value_dw_conv(x) if m.kv_strides > 1 else x)
            lk = k.shape[2] * k.shape[3]
            cap = 1.0 / lk + 0.5 * (1.0 - 1.0 / lk)
            p = _mqa_attention(m, q, k).amax(-1).mean().item()
            s = _q_scale_for(m, q, k, cap, hi=0.0) if p > cap else 1.0
            m._query_proj[0].weight.data.mul_(s)
            probs, ctx = _mqa_context(m, q * s, k, v)
            out = m._output_proj(ctx)
            shrink = (1.25 / _rms(out)).clamp(max=1.0)
            m._output_proj[0].weight.data.mul_(shrink.view(-1, 1, 1, 1))
            stats.append(dict(pass_='shrink', Lq=q.shape[2] * q.shape[3], Lk=lk,
                              mean_max_prob=round(probs.amax(-1).mean().item(), 4), q_scale=round(s, 4)))
            return None
        for name in ('_key_dw_conv', '_value_dw_conv'):
            seq = getattr(m, name, None)
            if seq is not None:
                out = seq[0](x)
                seq[0].weight.data.mul_((seq[1].running_var.sqrt() / _rms(out)).view(-1, 1, 1, 1))
        kin = m._key_dw_conv(x) if m.kv_strides > 1 else x
        vin = m._value_dw_conv(x) if m.kv_strides > 1 else x
        q = _normalise_proj(m._query_proj[0], xq)
        k = _normalise_proj(m._key_proj[0], kin)
        v = _normalise_proj(m._value_proj[0], vin)
        lk = k.shape[2] * k.shape[3]
        target = 1.0 / lk + 0.3 * (1.0 - 1.0 / lk)
        s = _q_scale_for(m, q, k, target)
        m._query_proj[0].weight.data.mul_(s)
        probs, ctx = _mqa_context(m, q * s, k, v)
        _normalise_proj(m._output_proj[0], ctx)
        stats.append(dict(pass_='calib', Lq=q.shape[2] * q.shape[3], Lk=lk,
                          mean_max_prob=round(probs.amax(-1).mean().item(), 4), q_scale=round(s, 4)))
        return None
    return hook


def prepare_weights(model, calib_x, gen, shrink_batches=()):
    """Randomise BN, then one calibration pass (hooks rescale each conv as data flows through it) on
    calib_x, then one shrink-only pass per batch in shrink_batches (e.g. at the fixture sizes, whose
    tiny P5 maps (2x2) see only part of each 3x3 kernel and would otherwise blow up channels that
    were calibrated on other border patterns)."""
    model.eval()
    model.strides()  # the 256x256 stride probe must not run under the calibration hooks
    roles = conv_roles(model)
    mqa_stats = []
    with torch.no_grad():
        randomise_bn(model, gen)
        for shrink, batch in [(False, calib_x)] + [(True, b) for b in shrink_batches]:
            handles = []
            for conv, role in roles.items():
                if role[0] in ('bn', 'plain'):
                    handles.append(conv.register_forward_hook(_conv_hook(role, gen, shrink)))
            for m in model.modules():
                if isinstance(m, yv9ref.MultiQueryAttentionLayerWithDownSampling):
                    handles.append(m.register_forward_pre_hook(_mqa_pre_hook(mqa_stats, shrink)))
            try:
                model(batch)
            finally:
                for h in handles:
                    h.remove()
    return mqa_stats


# ------------------------------------------------------------------------------------------------
# Fused twin (BN folded into convs, RepConvN -> one 3x3 conv): the noise of what an engine computes
# ------------------------------------------------------------------------------------------------
def fused_copy(model):
    m = copy.deepcopy(model)
    with torch.no_grad():
        for mod in list(m.modules()):
            if isinstance(mod, yv9ref.RepConvN):
                w3, b3 = yv9ref.fold_bn(mod.conv1.conv, mod.conv1.bn)
                w1, b1 = yv9ref.fold_bn(mod.conv2.conv, mod.conv2.bn)
                c = mod.conv1.conv
                fused = nn.Conv2d(c.in_channels, c.out_channels, 3, c.stride, 1, groups=c.groups, bias=True)
                fused.weight.copy_(w3 + F.pad(w1, [1, 1, 1, 1]))
                fused.bias.copy_(b3 + b1)
                mod.fused = fused
                mod.forward = (lambda self: (lambda x: self.act(self.fused(x))))(mod)
            elif isinstance(mod, yv9ref.Conv):
                w, b = yv9ref.fold_bn(mod.conv, mod.bn)
                c = mod.conv
                fused = nn.Conv2d(c.in_channels, c.out_channels, c.kernel_size, c.stride, c.padding,
                                  dilation=c.dilation, groups=c.groups, bias=True)
                fused.weight.copy_(w)
                fused.bias.copy_(b)
                mod.fused = fused
                mod.forward = (lambda self: (lambda x: self.act(self.fused(x))))(mod)
            elif isinstance(mod, nn.Sequential) and len(mod) == 2 and isinstance(mod[0], nn.Conv2d) \
                    and isinstance(mod[1], nn.BatchNorm2d):  # MQA depthwise conv + BN
                w, b = yv9ref.fold_bn(mod[0], mod[1])
                c = mod[0]
                fused = nn.Conv2d(c.in_channels, c.out_channels, c.kernel_size, c.stride, c.padding,
                                  groups=c.groups, bias=True)
                fused.weight.copy_(w)
                fused.bias.copy_(b)
                mod.fused = fused
                mod.forward = (lambda self: (lambda x: self.fused(x)))(mod)
    return m



# ------------------------------------------------------------------------------------------------
# Mutations: plausible engine bugs, to show each case's tolerance catches them (max |diff| vs out)
# ------------------------------------------------------------------------------------------------
def _mqa_forward_mutated(self, x, v_as_k_transposed=False, scale_key_dim=False):
    bs = x.shape[0]
    if self.query_h_strides > 1 or self.query_w_strides > 1:
        q = self._query_proj(self._query_downsampling_norm(
            F.avg_pool2d(x, (self.query_h_strides, self.query_w_strides))))
    else:
        q = self._query_proj(x)
    hq, wq = q.shape[2], q.shape[3]
    k = self._key_proj(self._key_dw_conv(x) if self.kv_strides > 1 else x)
    v = self._value_proj(self._value_dw_conv(x) if self.kv_strides > 1 else x)
    qm = q.reshape(bs, self.num_heads, -1, self.key_dim)
    km = k.reshape(bs, 1, self.key_dim, -1)
    vm = v.reshape(bs, 1, self.key_dim, -1).transpose(2, 3) if v_as_k_transposed else v.reshape(bs, 1, -1, self.key_dim)
    scale = self.key_dim ** 0.5 if scale_key_dim else self.head_dim ** 0.5
    probs = F.softmax(torch.matmul(qm, km) / scale, dim=-1)
    ctx = torch.matmul(probs, vm).reshape(bs, self.num_heads * self.key_dim, hq, wq)
    return self._output_proj(ctx)


def _cbfuse_nearest_exact(self, xs):
    size = xs[-1].shape[2:]
    picked = [F.interpolate(x[self.idx[i]], size=size, mode='nearest-exact') for i, x in enumerate(xs[:-1])]
    return torch.stack(picked + [xs[-1]]).sum(dim=0)


def mutants(model):
    """-> {name: mutated deep copy} for the mutations that apply to this model."""
    out = {}
    m = copy.deepcopy(model)
    for bn in m.modules():
        if isinstance(bn, nn.BatchNorm2d):
            bn.eps = 1e-5
    out['bn_eps_1e-5'] = m
    if model.yaml.get('activation'):
        m = copy.deepcopy(model)
        for mod in m.modules():
            if isinstance(mod, (yv9ref.Conv, yv9ref.RepConvN)) and not isinstance(mod.act, nn.Identity):
                mod.act = nn.SiLU()
        out['activation_ignored_(SiLU)'] = m
    mods = list(model.modules())
    if any(isinstance(x, yv9ref.MultiQueryAttentionLayerWithDownSampling) for x in mods):
        for name, kw in (('mqa_V_read_as_K_transposed', dict(v_as_k_transposed=True)),
                         ('mqa_scale_1/sqrt(key_dim)', dict(scale_key_dim=True))):
            m = copy.deepcopy(model)
            for mod in m.modules():
                if isinstance(mod, yv9ref.MultiQueryAttentionLayerWithDownSampling):
                    mod.forward = (lambda self, kw: (lambda x: _mqa_forward_mutated(self, x, **kw)))(mod, kw)
            out[name] = m
    if any(isinstance(x, yv9ref.CBFuse) for x in mods):
        m = copy.deepcopy(model)
        for mod in m.modules():
            if isinstance(mod, yv9ref.CBFuse):
                mod.forward = (lambda self: (lambda xs: _cbfuse_nearest_exact(self, xs)))(mod)
        out['cbfuse_nearest-exact_instead_of_legacy_nearest'] = m
    return out


# ------------------------------------------------------------------------------------------------
# Running and bookkeeping
# ------------------------------------------------------------------------------------------------
def nice_tol(floor):
    """10 x floor rounded up to 1, 2 or 5 x 10^k; at least 1e-6."""
    x = max(10.0 * floor, 1e-6)
    k = math.floor(math.log10(x))
    for mant in (1, 2, 5, 10):
        v = mant * 10.0 ** k
        if v >= x * (1 - 1e-9):
            return float(f'{v:.0e}')
    return float(f'{10.0 ** (k + 1):.0e}')


def flat_outputs(model, r):
    """-> list of (relative file stem, layer index, module, part, kind, tensor) for every layer + 'out'."""
    items = []
    for idx, lst in yv9ref.layer_outputs(r).items():
        mod = model.model[idx]
        mname = type(mod[0] if isinstance(mod, nn.Sequential) and not isinstance(mod, yv9ref.HEADS) else mod).__name__
        if isinstance(mod, nn.Upsample):
            mname = 'nn.Upsample'
        for suffix, t in lst:
            decoded = isinstance(r['layers'][idx], dict) and suffix in ('', '_aux')
            part = suffix.lstrip('_') or ('main' if isinstance(r['layers'][idx], dict) else '')
            items.append((f'layer_{idx:02d}{suffix}', idx, mname, part, 'decoded' if decoded else 'raw', t))
    return items


def diff_entry(kind, a, b):
    a = a.detach().double()
    b = b.detach().double()
    if kind == 'decoded':
        return [float((a[:, :4] - b[:, :4]).abs().max()), float((a[:, 4:] - b[:, 4:]).abs().max())]
    return [float((a - b).abs().max())]


def tol_fields(kind, floor):
    if kind == 'decoded':
        return {'floor_box': floor[0], 'floor_score': floor[1], 'tol_box': nice_tol(floor[0]),
                'tol_score': nice_tol(floor[1])}
    return {'floor': floor[0], 'tol': nice_tol(floor[0])}


def output_stats(kind, t):
    a = t.detach().double()
    if kind == 'decoded':
        return {'box_min': float(a[:, :4].min()), 'box_max': float(a[:, :4].max()),
                'score_min': float(a[:, 4:].min()), 'score_max': float(a[:, 4:].max()),
                'score_mean': float(a[:, 4:].mean())}
    return {'min': float(a.min()), 'max': float(a.max()), 'rms': float(a.pow(2).mean().sqrt())}


def make_input(gen, ch, h, w, dist):
    if dist == 'normal':
        return torch.randn(1, ch, h, w, generator=gen)
    return torch.rand(1, ch, h, w, generator=gen)


def smooth_input(gen, ch, h, w):
    low = torch.rand(1, ch, max(h // 8, 2), max(w // 8, 2), generator=gen)
    return F.interpolate(low, size=(h, w), mode='bilinear', align_corners=False)


def save_npy(path, t):
    np.save(path, np.ascontiguousarray(t.detach().cpu().numpy().astype(np.float32)))


def generate_case(spec, out_root):
    name = spec['name']
    seed = zlib.crc32(name.encode()) & 0x7fffffff
    torch.manual_seed(seed)
    gen = torch.Generator().manual_seed(seed)
    d = os.path.join(out_root, name)
    if os.path.isdir(d):
        shutil.rmtree(d)
    os.makedirs(d)
    model = yv9ref.build_model(spec['yaml'])
    model.eval()
    ch = model.ch
    dist = spec.get('dist', 'uniform')
    inputs = [make_input(gen, ch, h, w, dist) for h, w in spec['sizes']]
    # calibration: a batch at spec['calib'] (default: the first size) of 3 random + 1 smooth image, then a
    # shrink-only pass per fixture size on (the fixture input + 2 random + 1 smooth)
    def batch(h, w, first=None):
        xs = [first] if first is not None else [make_input(gen, ch, h, w, dist)]
        xs += [make_input(gen, ch, h, w, dist) for _ in range(2)]
        sm = smooth_input(gen, ch, h, w)
        xs.append((sm - 0.5) * 3.0 if dist == 'normal' else sm)
        return torch.cat(xs)
    ch0, cw0 = spec.get('calib', spec['sizes'][0])
    shrink = [batch(h, w, x) for (h, w), x in zip(spec['sizes'], inputs)]
    mqa_stats = prepare_weights(model, batch(ch0, cw0), gen, shrink)
    model.eval()
    sd = model.state_dict()
    nbytes = write_bin(os.path.join(d, 'model.bin'), sd, spec['yaml'])
    with open(os.path.join(d, 'model.yaml'), 'w', encoding='utf-8') as f:
        f.write(spec['yaml'])

    m64 = copy.deepcopy(model).double()
    mfused = fused_copy(model)
    mutated = mutants(model)
    head = model.head
    case = {
        'name': name,
        'description': spec['desc'],
        'covers': spec['covers'],
        'config': 'model.yaml',
        'weights': 'model.bin',
        'weights_dtype': 'F32',
        'bn_eps': yv9ref.BN_EPS,
        'input_channels': ch,
        'input_distribution': 'uniform [0,1)' if dist == 'uniform' else 'standard normal',
        'activation': model.yaml.get('activation'),
        'nc': model.yaml['nc'] if head is not None else None,
        'head': type(head).__name__ if head is not None else None,
        'strides': model.strides(),
        'output_kind': 'decoded' if head is not None else 'raw',
        'params': sum(p.numel() for p in model.parameters()),
        'state_dict_tensors': len(sd),
        'model_bin_bytes': nbytes,
        'seed': seed,
        'layer_table': [dict(index=i.i, source=i.f, n=i.n, module=i.type.split('.')[-1], args=str(i.args),
                             channels=i.c2 if not isinstance(i.c2, list) else i.c2, params=i.params)
                        for i in model.layer_info],
        'runs': [],
    }
    if mqa_stats:
        case['mqa_calibration'] = mqa_stats
    for (h, w), x in zip(spec['sizes'], inputs):
        tag = f'{h}x{w}'
        with torch.no_grad():
            r = model.run(x)
            r64 = m64.run(x.double())
            rf = mfused.run(x)
        kind = case['output_kind']
        save_npy(os.path.join(d, f'in_{tag}.npy'), x)
        save_npy(os.path.join(d, f'out_{tag}.npy'), r['out'])
        floor_64 = diff_entry(kind, r['out'], r64['out'])
        floor_f = diff_entry(kind, r['out'], rf['out'])
        floor = [max(a, b) for a, b in zip(floor_64, floor_f)]
        run = {'input': f'in_{tag}.npy', 'output': f'out_{tag}.npy', 'in_shape': list(x.shape),
               'out_shape': list(r['out'].shape), 'kind': kind, 'floor_fp64': floor_64, 'floor_fused': floor_f}
        run.update(tol_fields(kind, floor))
        run['stats'] = output_stats(kind, r['out'])
        muts = {}
        with torch.no_grad():
            for mname, mm in mutated.items():
                muts[mname] = diff_entry(kind, r['out'], mm(x))
            if 'aux' in r:
                muts['aux_branch_returned_instead_of_main'] = diff_entry(kind, r['out'], r['aux'])
        run['mutations'] = muts
        sel = spec['layers']   # True: every input; list of sizes (h, w) or of input positions
        want_layers = sel is True or (isinstance(sel, list) and ((h, w) in sel or spec['sizes'].index((h, w)) in sel))
        if len(model.model) == 1:
            want_layers = False  # single-layer config: layer_00 would duplicate out_*.npy
        if want_layers:
            ldir = f'layers_{tag}'
            os.makedirs(os.path.join(d, ldir))
            files = []
            for (stem, idx, mname, part, k, t), (_, _, _, _, _, t64), (_, _, _, _, _, tf) in zip(
                    flat_outputs(model, r), flat_outputs(m64, r64), flat_outputs(mfused, rf)):
                save_npy(os.path.join(d, ldir, stem + '.npy'), t)
                fl = [max(a, b) for a, b in zip(diff_entry(k, t, t64), diff_entry(k, t, tf))]
                e = {'file': f'{ldir}/{stem}.npy', 'layer': idx, 'module': mname, 'part': part, 'kind': k,
                     'shape': list(t.shape)}
                e.update(tol_fields(k, fl))
                files.append(e)
            run['layers_dir'] = ldir
            run['files'] = files
        case['runs'].append(run)
    with open(os.path.join(d, 'case.json'), 'w', encoding='utf-8') as f:
        json.dump(case, f, indent=1)
        f.write('\n')
    size = sum(os.path.getsize(os.path.join(dp, fn)) for dp, _, fns in os.walk(d) for fn in fns)
    return case, size


README_HEAD = """# tests/data/ref — golden data from our independent PyTorch reference

Generated by `tests/reference/gen_fixtures.py` with `tests/reference/yv9ref.py` (our own re-implementation
of upstream YOLOv9 + the seed's Mobile MQA, written from their documented behaviour; no upstream code). **Do not edit by hand**;
regenerate (deterministic, byte-identical on re-run):

    /usr/bin/python3 tests/reference/gen_fixtures.py            # all cases -> tests/data/ref/ (+ this README)
    /usr/bin/python3 tests/reference/gen_fixtures.py --only v9c-small,mod-adown
    /usr/bin/python3 tests/reference/check_reference.py         # reference vs upstream fixtures + replays every case here

Environment: {env}. One thread (`torch.set_num_threads(1)`), CPU, eval mode, no_grad.
Seeds: each case uses `seed = zlib.crc32(name) & 0x7fffffff` (stored in case.json) for `torch.manual_seed`
(conv init) and a `torch.Generator` (BN randomisation, inputs, calibration images, biases).

The reference itself is validated against upstream-made ground truth (`check_params.py`: parse_model tables of
all 15 configs in fixtures/configs/params.txt, per layer and totals; `check_reference.py`: fixtures gelan-t-mmqa
(every layer), mqa_module/*, yolov9-t-train (DualDDetect main + aux, every layer), gelan-t-converted).

## What a case is
Directory `<name>/`:
- `model.yaml` — the config (also embedded verbatim in model.bin's `__metadata__.config`). Head-less configs
  have `head: []`; their output is the last layer. A top-level `ch:` sets the input channels (upstream
  `Model(cfg, ch=...)`); absent = 3.
- `model.bin` — yv9 weight file v1 (docs/weight-format.md) written by `tests/reference/write_bin.py`: all
  state-dict tensors in state-dict order, floating ones F32, BatchNorm `num_batches_tracked` kept as I64 scalars
  (shape `[]`) exactly as a converter that preserves a state dict would; metadata format/format_version/config/bn_eps
  ("0.001"); no `names`.
- `in_HxW.npy` — float32 (1, ch, H, W). Uniform [0,1) for image inputs (ch 3), standard normal for the
  head-less module cases (feature-map-like; see `input_distribution`).
- `out_HxW.npy` — float32. With a head: exactly what upstream feeds to NMS, (1, 4+nc, A): rows 0..3 xywh
  (centre, size) in input pixels, rows 4.. sigmoid scores, anchors level by level (stride 8, 16, 32), row-major;
  for DualDDetect the **main** branch (cv4/cv5). Head-less: the last layer's output (NCHW).
- `layers_HxW/` (for the sizes listed in case.json) — every layer's output, as upstream `_forward_once` sees it:
  `layer_XX.npy` (tensor); `layer_XX_k.npy` (k-th item of a tuple output: CBLinear splits);
  head layer: `layer_XX.npy` = decoded main output (= out), `layer_XX_aux.npy` = decoded aux branch (DualDDetect
  only; dead at inference), `layer_XX_level<k>.npy` = raw per-level cat(64 box DFL logits, nc class logits)
  (1, 64+nc, h, w) of the main set before DFL/sigmoid, `layer_XX_auxlevel<k>.npy` the same for the aux set.
  Single-layer configs have no layers dir (it would duplicate out).
- `case.json` — see below.

## Weights (informative, not trained)
Every BatchNorm: running_var U[0.5,2], running_mean U[-0.5,0.5], weight U[0.8,1.2], bias U[-0.2,0.2]; BN eps is
upstream's 1e-3 (not stored in a state dict; `bn_eps` in case.json / metadata). Then calibration with forward
hooks (each conv is rescaled per output channel while data flows, so one pass suffices): one full pass on a batch
of 3 random + 1 smooth image at `calib` size (128x160 for the detectors: P5 4x5), then one shrink-only pass per
fixture size (tiny P5 maps like 2x2 only see part of each 3x3 kernel; without it some channels explode):
convs followed by BN -> output RMS = sqrt(running_var); CBLinear -> per-channel std 1, bias U[-0.2,0.2];
head box logits std 1.5 (bias U[-0.5,0.5]), class logits std 2 with bias U[-1.5,0.5] (scores span ~0.001..0.99,
never exactly 0 or 1); MQA: dw convs -> sqrt(running_var), q/k/v projections RMS 1, q scaled so the mean max
attention probability is ~0.3 (peaky, not one-hot; shrink pass caps it at 0.5), output projection RMS 1
(`mqa_calibration` in case.json).

## Noise floor and tolerance
floor = max |fp32 reference - X| over X in {{the same model in float64, the fp32 model with BatchNorm folded into
the convs and RepConvN fused into one 3x3 conv (what an engine does)}}; for decoded outputs separately for boxes
(rows 0..3, px) and scores (rows 4..). Suggested tolerance = 10 x floor rounded up to 1, 2 or 5 x 10^k, at least
1e-6 — per output file and per layer file. Compare with max |diff| <= tol (absolute).

## case.json
```
{{ "name", "description", "covers": [str],
  "config": "model.yaml", "weights": "model.bin", "weights_dtype": "F32", "bn_eps": 0.001,
  "input_channels": int, "input_distribution": "uniform [0,1)" | "standard normal",
  "activation": null | "nn.ReLU()" | ...,            # the yaml's activation: (null = SiLU)
  "nc": int | null, "head": "DDetect" | "DualDDetect" | "Detect" | null, "strides": [8.0, 16.0, 32.0] | null,
  "output_kind": "decoded" | "raw", "params", "state_dict_tensors", "model_bin_bytes", "seed",
  "layer_table": [ {{"index", "source" (int | [int]), "n" (repeats after depth gain), "module", "args" (str, as
                    upstream prints them), "channels" (int | [int] for CBLinear | null for heads), "params"}} ],
  "mqa_calibration": [...]                          # only with attention
  "runs": [ {{
     "input": "in_HxW.npy", "output": "out_HxW.npy", "in_shape": [..], "out_shape": [..],
     "kind": "decoded" | "raw",
     # kind == "decoded": "floor_box", "floor_score", "tol_box", "tol_score"
     # kind == "raw":     "floor", "tol"
     "floor_fp64": [..], "floor_fused": [..],       # the two components ([box, score] or [raw])
     "stats": {{...}},                               # box/score ranges, or min/max/rms
     "mutations": {{name: [box, score] | [raw]}},     # max |diff| of plausible bugs vs output (>> tol; 0 where the
                                                    # mutated op is not on the main path: in the yolov9-c/m
                                                    # topologies CBLinear/CBFuse only feed the aux branch)
     "layers_dir": "layers_HxW",                    # only when per-layer files exist, then:
     "files": [ {{"file": "layers_HxW/layer_XX[_part].npy", "layer": XX, "module": "Conv",
                 "part": "" | "0".."k" | "main" | "aux" | "level<k>" | "auxlevel<k>",
                 "kind": "raw" | "decoded", "shape": [..],
                 + "floor"/"tol" (raw) or "floor_box"/"floor_score"/"tol_box"/"tol_score" (decoded) }} ]
  }} ] }}
```
A C++ test can iterate `tests/data/ref/*/case.json`: load `weights`, build from the metadata config (or
`config`), and for every run compare `output` (and each entry of `files`) with its tolerance fields.

## Input sizes
Upsample x2 + Concat in the necks require each pyramid level to be exactly twice the next: Conv s2 maps H to
ceil(H/2), ADown/AConv to floor(H/2). So the detectors accept H, W in 29..32, 61..64, 93..96, ... (the upstream
yolov9-c/e neck fails on e.g. 72x100: P4 9 vs upsampled P5 8). Odd sizes like 29x61 and 61x29 are used; CBFuse's
nearest resize then sees non-integer ratios in the yolov9-e topology and in mod-cblinear-cbfuse. PyTorch's
legacy 'nearest': src = floor(dst * (in / out)) with the scale computed in float32, clamped to in-1.

## Cases
{table}

Total size: {total:.2f} MB.
"""


def write_readme(out_root, results):
    import platform
    env = (f'torch {torch.__version__} (Debian), numpy {np.__version__}, Python {platform.python_version()}, '
           f'/usr/bin/python3')
    rows = ['| case | covers | params | inputs (HxW) -> out shape | layers for | tolerance (box px / score, or raw) | MB |',
            '|---|---|---|---|---|---|---|']
    total = 0.0
    for case, size in results:
        total += size
        ins = '; '.join(f"{r['input'][3:-4]} -> {tuple(r['out_shape'])}" for r in case['runs'])
        lay = ', '.join(r['input'][3:-4] for r in case['runs'] if 'files' in r) or '-'
        tols = '; '.join((f"{r['tol_box']:g} / {r['tol_score']:g}" if r['kind'] == 'decoded' else f"{r['tol']:g}")
                         for r in case['runs'])
        rows.append(f"| `{case['name']}` | {case['description']} | {case['params']:,} | {ins} | {lay} | {tols} | "
                    f"{size / 1e6:.2f} |")
    with open(os.path.join(out_root, 'README.md'), 'w', encoding='utf-8') as f:
        f.write(README_HEAD.format(env=env, table='\n'.join(rows), total=total / 1e6))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('--out', default=DEFAULT_OUT)
    ap.add_argument('--only', default='')
    ap.add_argument('--list', action='store_true')
    a = ap.parse_args()
    torch.set_num_threads(1)
    specs = cases()
    if a.list:
        for s in specs:
            print(s['name'])
        return
    only = set(filter(None, a.only.split(',')))
    os.makedirs(a.out, exist_ok=True)
    total = 0
    results = []
    for spec in specs:
        if only and spec['name'] not in only:
            continue
        case, size = generate_case(spec, a.out)
        results.append((case, size))
        total += size
        for run in case['runs']:
            if run['kind'] == 'decoded':
                st = run['stats']
                msg = (f"box floor {run['floor_box']:.2g} tol {run['tol_box']:g}, score floor {run['floor_score']:.2g} "
                       f"tol {run['tol_score']:g}, scores {st['score_min']:.3g}..{st['score_max']:.3g}")
            else:
                msg = f"floor {run['floor']:.2g} tol {run['tol']:g}, rms {run['stats']['rms']:.3g}"
            print(f"{case['name']:<22} {run['input']:<16} out {str(run['out_shape']):<18} {msg}")
        print(f"{case['name']:<22} params {case['params']:,}  dir {size / 1e6:.2f} MB"
              + (f"  mqa {case['mqa_calibration']}" if 'mqa_calibration' in case else ''))
    if not only:
        write_readme(a.out, results)
    print(f'total written {total / 1e6:.2f} MB')


if __name__ == '__main__':
    main()
