#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""Make (or find in the cache) everything the three engines need for one config and input size.

    prepare.py --config X.yaml --img S|HxW [--variants full,main] [--cache DIR] [--no-onnx]

Cache layout (DIR/<config stem>-<hash of config text + generator version>/):
    config.yaml        the config text
    <stem>.bin         yv9 weight file (unfused state dict, metadata config = the yaml text)  -> ours
    fused.bin          BatchNorm-folded / RepConvN-merged weights of BenchNet('full')         -> torch
    meta.json          name, nc, ch, strides, has_aux, parameter count, seed
    <variant>-HxW.onnx the same fused network exported at that size (opset 17)                -> ORT
    input-HxW.npy      the input detect --bench times (its LCG), float32 (1, ch, H, W)
    ref64-HxW.npy      yv9ref's own forward of <stem>.bin on that input in float64 (with --ref)
    ref32-HxW.npy      the same in float32 (its distance to ref64 = the fp32 rounding noise)
Prints one JSON object: {"dir", "meta", "onnx": {variant: path}, "input", "weights", "fused", "ref"}.
For a config without an auxiliary branch 'main' is the same network as 'full' (one file, 'full').
"""
import argparse
import fcntl
import hashlib
import json
import os
import sys
import time

import warnings

import numpy as np
import torch

import benchnet


def log(msg):
    print(f'[prepare] {msg}', file=sys.stderr, flush=True)


def case_dir(cache, cfg_path, text):
    stem = os.path.splitext(os.path.basename(cfg_path))[0]
    key = hashlib.sha256(f'{benchnet.GEN_VERSION}\n{text}'.encode()).hexdigest()[:12]
    return os.path.join(cache, f'{stem}-{key}'), stem


def ensure_weights(d, stem, text):
    meta_path = os.path.join(d, 'meta.json')
    if os.path.exists(meta_path):
        with open(meta_path) as f:
            return json.load(f)
    os.makedirs(d, exist_ok=True)
    from write_bin import write_bin
    seed = benchnet.config_seed(stem)
    t0 = time.time()
    log(f'{stem}: generating weights (seed {seed}, calibrated at {benchnet.CALIB}x{benchnet.CALIB})')
    model = benchnet.make_model(text, seed)
    strides = model.strides()
    params = sum(p.numel() for p in model.parameters())
    write_bin(os.path.join(d, stem + '.bin'), model.state_dict(), text)
    with open(os.path.join(d, 'config.yaml'), 'w', encoding='utf-8') as f:
        f.write(text)
    with torch.no_grad():
        benchnet.fuse_(model)
        net = benchnet.BenchNet(model, (benchnet.CALIB, benchnet.CALIB), 'full', strides)
    benchnet.save_fused(os.path.join(d, 'fused.bin'), net, text)
    meta = dict(name=stem, seed=seed, nc=model.head.nc, ch=model.ch, strides=strides,
                has_aux=benchnet.has_aux(model) if model.head is not None else False, params=params,
                gen_version=benchnet.GEN_VERSION)
    with open(meta_path + '.tmp', 'w') as f:
        json.dump(meta, f, indent=1)
    os.replace(meta_path + '.tmp', meta_path)  # last: marks the directory complete
    log(f'{stem}: weights done in {time.time() - t0:.1f}s ({params} parameters)')
    return meta


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument('--config', required=True)
    ap.add_argument('--img', required=True)
    ap.add_argument('--variants', default='full')
    ap.add_argument('--cache', default=os.path.join(benchnet.HERE, 'cache'))
    ap.add_argument('--no-onnx', action='store_true', help='weights and input only')
    ap.add_argument('--ref', action='store_true', help='also the float64 reference output')
    a = ap.parse_args()
    torch.set_num_threads(2)
    warnings.filterwarnings('ignore', category=UserWarning)  # the exporter's shape-inference chatter
    with open(a.config, encoding='utf-8') as f:
        text = f.read()
    h, w = benchnet.parse_hw(a.img)
    d, stem = case_dir(a.cache, a.config, text)
    os.makedirs(d, exist_ok=True)
    lock = open(os.path.join(d, '.lock'), 'w')
    fcntl.flock(lock, fcntl.LOCK_EX)  # one prepare per case directory at a time (others wait, then reuse)
    meta = ensure_weights(d, stem, text)
    inp = os.path.join(d, f'input-{h}x{w}.npy')
    if not os.path.exists(inp):
        np.save(inp + '.tmp.npy', benchnet.lcg_input(meta['ch'], h, w))
        os.replace(inp + '.tmp.npy', inp)
    ref = os.path.join(d, f'ref64-{h}x{w}.npy')
    ref32 = os.path.join(d, f'ref32-{h}x{w}.npy')
    if a.ref and not (os.path.exists(ref) and os.path.exists(ref32)):
        t0 = time.time()
        y32, y64 = benchnet.references(text, os.path.join(d, stem + '.bin'), np.load(inp))
        np.save(ref32 + '.tmp.npy', y32)
        os.replace(ref32 + '.tmp.npy', ref32)
        np.save(ref + '.tmp.npy', y64)
        os.replace(ref + '.tmp.npy', ref)
        log(f'{stem}: float32/float64 references at {h}x{w} in {time.time() - t0:.1f}s')
    onnx = {}
    for v in a.variants.split(','):
        v = v if meta['has_aux'] else 'full'
        path = os.path.join(d, f'{v}-{h}x{w}.onnx')
        if not a.no_onnx and not os.path.exists(path):
            t0 = time.time()
            net = benchnet.build_bench_net(text, (h, w), v, meta['strides'], os.path.join(d, 'fused.bin'))
            benchnet.export_onnx(net, torch.zeros(1, meta['ch'], h, w), path)
            log(f'{stem}: exported {os.path.basename(path)} in {time.time() - t0:.1f}s')
        onnx[v] = path
    print(json.dumps(dict(dir=d, meta=meta, onnx=onnx, input=inp, weights=os.path.join(d, stem + '.bin'),
                          fused=os.path.join(d, 'fused.bin'), ref=ref if os.path.exists(ref) else None,
                          ref32=ref32 if os.path.exists(ref32) else None)))


if __name__ == '__main__':
    main()
