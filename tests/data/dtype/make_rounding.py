#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""Writes rounding.txt: float32 and float64 inputs with their nearest-even F16, BF16 (and, for
float64 inputs, F32) bit patterns as other libraries compute them -- the twin of
include/yv9/io/half.hpp that tests/test_half.cpp checks against.

    /usr/bin/python3 tests/data/dtype/make_rounding.py     (numpy 1.24, torch 1.13; deterministic)

Sources of truth: numpy's float32->float16 and float64->float16 (direct, one rounding) and
float64->float32 casts; torch's float32->bfloat16 cast (c10 round_to_nearest_even). float64->bfloat16
has no single-rounding cast in either library (torch goes through float32), so it is computed here
exactly with fractions.Fraction. An expectation that would be an infinity for a finite input is
written "overflow" (yv9 refuses to write such a value); NaN is written "nan" (any quiet NaN).

Line format: KIND INPUT_HEX F16 BF16 F32   (KIND f32|f64; F32 is "-" for f32 inputs)
"""
import os
import struct
from fractions import Fraction

import numpy as np
import torch

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "rounding.txt")
rng = np.random.default_rng(20261203)


def f32_bits(x):
    return struct.unpack("<I", struct.pack("<f", x))[0]


def f64_bits(x):
    return struct.unpack("<Q", struct.pack("<d", x))[0]


def from_f16(b):
    return float(np.array([b], dtype=np.uint16).view(np.float16)[0])


def from_bf16(b):
    return struct.unpack("<f", struct.pack("<I", b << 16))[0]


def show16(x, bits):
    if np.isnan(x):
        return "nan"
    if np.isinf(x) and np.isfinite(bits[1]):
        return "overflow"
    return "%04x" % bits[0]


def np_f16(x):
    with np.errstate(over="ignore"):
        h = np.array([x]).astype(np.float16)
    return show16(float(h[0]), (int(h.view(np.uint16)[0]), x))


def torch_bf16(x32):
    t = torch.tensor([x32], dtype=torch.float32).to(torch.bfloat16)
    b = int(t.view(torch.int16).item()) & 0xFFFF
    return show16(float(t.float().item()), (b, x32))


def exact_bf16(x):
    """float64 -> bfloat16, nearest even, with exact rational arithmetic."""
    if np.isnan(x):
        return "nan"
    if np.isinf(x):
        return "%04x" % (0xFF80 if x < 0 else 0x7F80)
    sign = 0x8000 if np.signbit(x) else 0
    a = Fraction(abs(x))
    if a == 0:
        return "%04x" % sign
    E = a.numerator.bit_length() - a.denominator.bit_length()
    while Fraction(2) ** E > a:
        E -= 1
    while Fraction(2) ** (E + 1) <= a:
        E += 1
    ulp = Fraction(2) ** (max(E, -126) - 7)
    q, r = divmod(a, ulp)
    q = int(q)
    if r * 2 > ulp or (r * 2 == ulp and q % 2):
        q += 1
    if E < -126:
        return "%04x" % (sign | q)
    if q == 256:
        q, E = 128, E + 1
    if E > 127:
        return "overflow"
    return "%04x" % (sign | ((E + 127) << 7) | (q - 128))


def np_f32(x):
    with np.errstate(over="ignore"):
        y = np.array([x], dtype=np.float64).astype(np.float32)
    v = float(y[0])
    if np.isnan(v):
        return "nan"
    if np.isinf(v) and np.isfinite(x):
        return "overflow"
    return "%08x" % int(y.view(np.uint32)[0])


def f32_inputs():
    v = [0.0, -0.0, float("inf"), float("-inf"), float("nan"), 1.0, -1.0, 65504.0, -65504.0, 65519.996, 65520.0,
         -65520.0, 65536.0, 1e5, 3.4028234663852886e38, -3.4028234663852886e38, 3.3895313892515355e38,
         2.0 ** -24, 2.0 ** -25, -(2.0 ** -25), 2.0 ** -25 * 1.0000001, 3 * 2.0 ** -25, 5 * 2.0 ** -25, 2.0 ** -26,
         2.0 ** -14, 2.0 ** -14 - 2.0 ** -24, 2.0 ** -14 - 2.0 ** -25, 2.0 ** -126, 2.0 ** -133, 2.0 ** -134,
         3 * 2.0 ** -134, 2.0 ** -149, 1.0 + 2.0 ** -11, 1.0 + 3 * 2.0 ** -11, 1.0 + 2.0 ** -8, 1.0 + 3 * 2.0 ** -8,
         2049.0, 2051.0, 0.1, 1.0 / 3.0, 3.14159265]
    v = [float(np.float32(x)) for x in v]
    # ties between adjacent F16 values and the float32 values either side of each tie
    for h in rng.integers(0, 0x7BFF, 150):
        lo, hi = from_f16(int(h)), from_f16(int(h) + 1)
        mid = np.float32((lo + hi) / 2)
        v += [float(mid), float(np.nextafter(mid, np.float32(0))), float(np.nextafter(mid, np.float32(np.inf)))]
    # ties between adjacent BF16 values
    for b in rng.integers(0, 0x7F7F, 150):
        lo, hi = from_bf16(int(b)), from_bf16(int(b) + 1)
        mid = np.float32((lo + hi) / 2)
        v += [float(mid), float(np.nextafter(mid, np.float32(0))), float(np.nextafter(mid, np.float32(np.inf)))]
    # random float32 bit patterns (all exponents), and random values of weight-like size
    for bits in rng.integers(0, 2 ** 32, 300, dtype=np.uint64):
        v.append(float(np.array([bits], dtype=np.uint32).view(np.float32)[0]))
    v += [float(x) for x in rng.standard_normal(100).astype(np.float32) * 0.05]
    return v


def f64_inputs():
    v = [0.1, -0.1, 1e-300, 1e300, -1e300, 65519.99999999999, 65520.0, 3.4028235677973366e38, 3.402823567797337e38,
         2.0 ** -150, 2.0 ** -150 * (1 + 2.0 ** -40), 2.0 ** -1074, float("nan"), float("-inf")]
    # F16 ties nudged by less than float32 can see: one rounding up or down, two roundings differ
    for h in rng.integers(0, 0x7BFF, 60):
        lo, hi = from_f16(int(h)), from_f16(int(h) + 1)
        mid = (lo + hi) / 2
        v += [mid, mid + mid * 2.0 ** -40, mid - mid * 2.0 ** -40]
    for b in rng.integers(0, 0x7F7F, 60):
        lo, hi = from_bf16(int(b)), from_bf16(int(b) + 1)
        mid = (lo + hi) / 2
        v += [mid, mid + mid * 2.0 ** -40, mid - mid * 2.0 ** -40]
    for bits in rng.integers(0, 2 ** 63, 100, dtype=np.uint64):
        v.append(float(np.array([bits], dtype=np.uint64).view(np.float64)[0]) * (1 if bits % 2 else -1))
    v += [float(x) for x in rng.standard_normal(50) * 0.05]
    return v


def main():
    lines = []
    for x in f32_inputs():
        lines.append("f32 %08x %s %s -" % (f32_bits(x), np_f16(np.float32(x)), torch_bf16(x)))
    for x in f64_inputs():
        lines.append("f64 %016x %s %s %s" % (f64_bits(x), np_f16(np.float64(x)), exact_bf16(x), np_f32(x)))
    with open(OUT, "w") as f:
        f.write("\n".join(lines) + "\n")
    print(f"wrote {len(lines)} cases to {OUT}")


if __name__ == "__main__":
    main()
