#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""Write a yv9 weight file (docs/weight-format.md, version 1) from a PyTorch state dict.

Pure Python for the container (struct + json; torch/numpy only to get at tensor bytes):
    u64 LE N | N bytes JSON header, right-padded with spaces so (8 + N) % 8 == 0 | data buffer
Tensors are written in state-dict order, C-contiguous little-endian, floating tensors as F32 (or
F16 with --fp16); integer tensors (BatchNorm num_batches_tracked, I64 scalars) are kept as they
are, as pt2bin's "preserve" rule would (drop them with --no-int). __metadata__ carries
format "yv9", format_version "1", config (yaml text), names (JSON array as a string), bn_eps.

Usage: write_bin.py STATE_DICT.pt CONFIG.yaml OUT.bin [--fp16] [--names a,b,c] [--no-int]
"""
import argparse
import json
import struct
import sys

import numpy as np

DTYPES = {  # numpy dtype -> safetensors dtype
    np.dtype('float16'): 'F16', np.dtype('float32'): 'F32', np.dtype('float64'): 'F64',
    np.dtype('int8'): 'I8', np.dtype('uint8'): 'U8', np.dtype('int16'): 'I16', np.dtype('int32'): 'I32',
    np.dtype('int64'): 'I64', np.dtype('bool'): 'BOOL',
}


def _to_numpy(t):
    if hasattr(t, 'detach'):  # torch tensor (bf16 has no numpy twin; not produced by our generators)
        t = t.detach().cpu().contiguous().numpy()
    a = np.asarray(t)
    return a if a.flags.c_contiguous else a.copy(order='C')  # (np.ascontiguousarray turns 0-d into 1-d)


def encode(state_dict, config_text, names=None, fp16=False, keep_int=True, bn_eps='0.001', extra_meta=None):
    """-> bytes of the whole file."""
    meta = {'format': 'yv9', 'format_version': '1', 'config': config_text, 'bn_eps': bn_eps}
    if names is not None:
        meta['names'] = json.dumps(list(names), ensure_ascii=False)
    if extra_meta:
        meta.update({k: str(v) for k, v in extra_meta.items()})
    header, blobs, offset = {'__metadata__': meta}, [], 0
    for name, t in state_dict.items():
        a = _to_numpy(t)
        if a.dtype.kind == 'f':
            a = a.astype(np.float16 if fp16 else np.float32)
        elif not keep_int:
            continue
        a = a.astype(a.dtype.newbyteorder('<'), copy=False)
        raw = a.tobytes(order='C')
        header[name] = {'dtype': DTYPES[a.dtype], 'shape': list(a.shape), 'data_offsets': [offset, offset + len(raw)]}
        blobs.append(raw)
        offset += len(raw)
    js = json.dumps(header, ensure_ascii=False, separators=(',', ':')).encode('utf-8')
    js += b' ' * ((8 - (8 + len(js)) % 8) % 8)
    return struct.pack('<Q', len(js)) + js + b''.join(blobs)


def write_bin(path, state_dict, config_text, **kw):
    data = encode(state_dict, config_text, **kw)
    with open(path, 'wb') as f:
        f.write(data)
    return len(data)


def read_bin(path):
    """Minimal reader for self-checks: -> (metadata dict, {name: numpy array}) in file order."""
    raw = open(path, 'rb').read()
    (n,) = struct.unpack('<Q', raw[:8])
    header = json.loads(raw[8:8 + n].decode('utf-8'))
    meta = header.pop('__metadata__', {})
    base = 8 + n
    inv = {v: k for k, v in DTYPES.items()}
    tensors = {}
    for name, e in header.items():
        b, en = e['data_offsets']
        tensors[name] = np.frombuffer(raw[base + b: base + en], dtype=inv[e['dtype']].newbyteorder('<')).reshape(e['shape'])
    return meta, tensors


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument('state_dict')
    ap.add_argument('config')
    ap.add_argument('out')
    ap.add_argument('--fp16', action='store_true')
    ap.add_argument('--no-int', action='store_true', help='drop integer tensors (num_batches_tracked)')
    ap.add_argument('--names', help='comma-separated class names')
    a = ap.parse_args()
    import torch
    sd = torch.load(a.state_dict, map_location='cpu')
    if not isinstance(sd, dict) or not all(hasattr(v, 'shape') for v in sd.values()):
        sys.exit(f'{a.state_dict}: not a plain state dict')
    text = open(a.config, encoding='utf-8').read()
    size = write_bin(a.out, sd, text, names=a.names.split(',') if a.names else None, fp16=a.fp16,
                     keep_int=not a.no_int)
    print(f'{a.out}: {len(sd)} tensors, {size} bytes')


if __name__ == '__main__':
    main()
