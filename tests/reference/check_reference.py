#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""Validate yv9ref against upstream-made ground truth in the shared fixtures.

(b) gelan-t-mmqa/model.pt (plain state dict) loaded strictly into yv9ref built from
    configs/gelan-t-MMQA.yaml: the state-dict key list must equal the file's (names and order), then
    out_64x64 / out_64x96 (box 0.02 px, score 1e-4 — the fixture README's tolerance) and every
    layers_*/layer_XX*.npy (incl. the raw head levels) are compared;
(c) mqa_module/*: the standalone MultiQueryAttentionLayerWithDownSampling from module.json +
    state_dict.pt (BN eps 1e-3), output and q/k/v/context intermediates within 1e-5;
(d) extra: the pickled upstream models of yolov9-t-train (DualDDetect: main output, every layer and
    the aux branch layer_29_aux) and gelan-t-converted (fp16 DDetect), read through stub classes
    (no upstream code needed), their `yaml` dict built with yv9ref, fixture tolerances;
(e) with --ref-data DIR (default tests/data/ref when present): every case.json there is replayed the way
    a C++ test would: model.yaml + model.bin (read back with write_bin.read_bin, strict load) must
    reproduce every listed output and layer file within the case's own tolerances.
Usage: check_reference.py [--fixtures DIR]   (exit 1 on any failure)
"""
import argparse
import glob
import importlib.abc
import importlib.machinery
import json
import os
import sys
import types

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import yv9ref  # noqa: E402

BOX_TOL, SCORE_TOL, MQA_TOL = 0.02, 1e-4, 1e-5
# raw intermediate layers: no per-layer tolerance is published; these values are well above the
# fp32 reordering noise (|x| <= ~10) and far below any semantic error (>= 1e-1 in practice)
LAYER_TOL = 1e-4


def maxdiff(a, b):
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    if a.shape != b.shape:
        return float('inf')
    return float(np.abs(a - b).max()) if a.size else 0.0


def check_gelan_t_mmqa(fx):
    ok = True
    d = os.path.join(fx, 'gelan-t-mmqa')
    model = yv9ref.build_model(os.path.join(fx, 'configs', 'gelan-t-MMQA.yaml'))
    sd = torch.load(os.path.join(d, 'model.pt'), map_location='cpu')
    same_keys = list(sd.keys()) == list(model.state_dict().keys())
    print(f'[b] gelan-t-mmqa: state-dict keys identical in name and order: {same_keys} ({len(sd)} tensors)')
    ok &= same_keys
    model.load_state_dict(sd, strict=True)
    model.eval()
    print(f'    head strides {model.strides()}')
    for size in ('64x64', '64x96'):
        x = torch.from_numpy(np.load(os.path.join(d, f'in_{size}.npy')))
        with torch.no_grad():
            r = model.run(x)
        want = np.load(os.path.join(d, f'out_{size}.npy'))
        got = r['out'].numpy()
        if got.shape != want.shape:
            print(f'    out_{size}: shape {got.shape} != {want.shape}  FAIL')
            ok = False
            continue
        db, ds = maxdiff(got[:, :4], want[:, :4]), maxdiff(got[:, 4:], want[:, 4:])
        good = db <= BOX_TOL and ds <= SCORE_TOL
        ok &= good
        print(f'    out_{size} {tuple(got.shape)}: max|diff| box {db:.3g} px (tol {BOX_TOL}), '
              f'score {ds:.3g} (tol {SCORE_TOL})  {"OK" if good else "FAIL"}')
        files = sorted(glob.glob(os.path.join(d, f'layers_{size}', 'layer_*.npy')))
        outs = yv9ref.layer_outputs(r)
        worst, worst_name, nfiles, bad = 0.0, '', 0, []
        for path in files:
            name = os.path.basename(path)[:-4]           # layer_XX or layer_XX_suffix
            idx, suffix = int(name[6:8]), name[8:]
            mine = dict(outs[idx]).get(suffix)
            want = np.load(path)
            if mine is None:
                bad.append(f'{name}: not produced')
                continue
            if name == f'layer_{idx:02d}' and isinstance(r['layers'][idx], dict):
                diff = max(maxdiff(mine[:, :4], want[:, :4]) / BOX_TOL, maxdiff(mine[:, 4:], want[:, 4:]) / SCORE_TOL)
                diff *= LAYER_TOL  # report decoded head output in units of LAYER_TOL
            else:
                diff = maxdiff(mine, want)
            nfiles += 1
            if diff > worst:
                worst, worst_name = diff, name
            if diff > LAYER_TOL:
                bad.append(f'{name}: max|diff| {diff:.3g}')
        good = not bad and nfiles == len(files)
        ok &= good
        print(f'    layers_{size}: {nfiles} files, worst max|diff| {worst:.3g} ({worst_name}) '
              f'(tol {LAYER_TOL})  {"OK" if good else "FAIL"}')
        for b in bad:
            print('      ' + b)
    return ok


def check_mqa_modules(fx):
    ok = True
    for d in sorted(glob.glob(os.path.join(fx, 'gelan-t-mmqa', 'mqa_module', '*'))):
        meta = json.load(open(os.path.join(d, 'module.json')))
        args = [meta[k] for k in ('in_channels', 'num_heads', 'key_dim', 'value_dim', 'query_h_strides',
                                  'query_w_strides', 'kv_strides', 'dw_kernel_size')]
        m = yv9ref.MultiQueryAttentionLayerWithDownSampling(*args)
        sd = torch.load(os.path.join(d, 'state_dict.pt'), map_location='cpu')
        same_keys = list(sd.keys()) == list(m.state_dict().keys())
        m.load_state_dict(sd, strict=True)
        m.eval()
        for case in meta['cases']:
            size = case['input'][3:-4]
            x = torch.from_numpy(np.load(os.path.join(d, case['input'])))
            m.trace = {}
            with torch.no_grad():
                y = m(x)
            diffs = {'out': maxdiff(y, np.load(os.path.join(d, case['output'])))}
            for key in ('q', 'k', 'v', 'context'):
                diffs[key] = maxdiff(m.trace[key], np.load(os.path.join(d, f'{key}_{size}.npy')))
            m.trace = None
            good = same_keys and max(diffs.values()) <= MQA_TOL
            ok &= good
            txt = ', '.join(f'{k} {v:.3g}' for k, v in diffs.items())
            print(f'[c] {os.path.basename(d)} {size} args {args}: max|diff| {txt} (tol {MQA_TOL})  '
                  f'{"OK" if good else "FAIL"}')
    return ok


class _StubModule(types.ModuleType):
    """Stands in for upstream's `models.*` modules while unpickling: every class is a bare nn.Module
    (nn.Module.__setstate__ restores parameters/buffers/submodules, enough for state_dict())."""

    def __getattr__(self, name):
        if name.startswith('__'):
            raise AttributeError(name)
        cls = type(name, (torch.nn.Module,), {'__module__': self.__name__})
        setattr(self, name, cls)
        return cls


class _StubFinder(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    def find_spec(self, fullname, path, target=None):
        if fullname.split('.')[0] in ('models', 'utils'):
            return importlib.machinery.ModuleSpec(fullname, self, is_package=True)
        return None

    def create_module(self, spec):
        return _StubModule(spec.name)

    def exec_module(self, module):
        module.__path__ = []


def load_pickled_model(path, key):
    finder = _StubFinder()
    before = set(sys.modules)
    sys.meta_path.insert(0, finder)
    try:
        ckpt = torch.load(path, map_location='cpu')
    finally:
        sys.meta_path.remove(finder)
        for name in set(sys.modules) - before:
            if name.split('.')[0] in ('models', 'utils'):
                del sys.modules[name]
    m = ckpt[key]
    eps = {mod.eps for mod in m.modules() if isinstance(mod, torch.nn.BatchNorm2d)}
    return m.yaml, m.float().state_dict(), eps


def check_pickled(fx, sub, ckpt_name, key, inputs, box_tol, score_tol, layers_dir=None):
    ok = True
    d = os.path.join(fx, sub)
    cfg, sd, eps = load_pickled_model(os.path.join(d, ckpt_name), key)
    model = yv9ref.build_model(cfg)
    same_keys = list(sd.keys()) == list(model.state_dict().keys())
    model.load_state_dict(sd, strict=True)
    model.eval()
    print(f"[d] {sub}/{ckpt_name}['{key}']: keys identical {same_keys}, pickled BN eps {sorted(eps)}, "
          f"head {type(model.head).__name__}, strides {model.strides()}")
    ok &= same_keys and eps == {yv9ref.BN_EPS}
    for name in inputs:
        x = torch.from_numpy(np.load(os.path.join(d, f'in_{name}.npy')))
        with torch.no_grad():
            r = model.run(x)
        want = np.load(os.path.join(d, f'out_{name}.npy'))
        got = r['out'].numpy()
        db, ds = maxdiff(got[:, :4], want[:, :4]), maxdiff(got[:, 4:], want[:, 4:])
        good = db <= box_tol and ds <= score_tol
        ok &= good
        print(f'    out_{name} {tuple(got.shape)}: max|diff| box {db:.3g} px (tol {box_tol}), score {ds:.3g} '
              f'(tol {score_tol})  {"OK" if good else "FAIL"}')
        if layers_dir and os.path.isdir(os.path.join(d, f'{layers_dir}_{name}')):
            outs = yv9ref.layer_outputs(r)
            worst, worst_name, bad, n = 0.0, '', [], 0
            for path in sorted(glob.glob(os.path.join(d, f'{layers_dir}_{name}', 'layer_*.npy'))):
                fname = os.path.basename(path)[:-4]
                idx, suffix = int(fname[6:8]), fname[8:]
                mine, want = dict(outs[idx]).get(suffix), np.load(path)
                if mine is None:
                    bad.append(f'{fname}: not produced')
                    continue
                if isinstance(r['layers'][idx], dict) and suffix in ('', '_aux'):
                    good = maxdiff(mine[:, :4], want[:, :4]) <= box_tol and maxdiff(mine[:, 4:], want[:, 4:]) <= score_tol
                    diff = max(maxdiff(mine[:, :4], want[:, :4]) / box_tol, maxdiff(mine[:, 4:], want[:, 4:]) / score_tol)
                    label = f'{fname} (decoded, fraction of tol {diff:.3g})'
                    if not good:
                        bad.append(label)
                    print(f'    {label}')
                    n += 1
                    continue
                diff = maxdiff(mine, want)
                n += 1
                if diff > worst:
                    worst, worst_name = diff, fname
                if diff > LAYER_TOL:
                    bad.append(f'{fname}: max|diff| {diff:.3g}')
            ok &= not bad
            print(f'    {layers_dir}_{name}: {n} files, worst raw max|diff| {worst:.3g} ({worst_name}) '
                  f'(tol {LAYER_TOL})  {"OK" if not bad else "FAIL"}')
            for b in bad:
                print('      ' + b)
    return ok


def check_ref_data(root):
    from write_bin import read_bin
    ok = True
    for cj in sorted(glob.glob(os.path.join(root, '*', 'case.json'))):
        d = os.path.dirname(cj)
        case = json.load(open(cj))
        cfg = open(os.path.join(d, case['config']), encoding='utf-8').read()
        meta, tensors = read_bin(os.path.join(d, case['weights']))
        model = yv9ref.build_model(meta['config'])
        good = meta['config'] == cfg and meta['format'] == 'yv9' and meta['format_version'] == '1'
        model.load_state_dict({k: torch.from_numpy(v.copy()) for k, v in tensors.items()}, strict=True)
        model.eval()
        worst = 0.0   # max over all compared files of max|diff| / tolerance
        nfiles = 0
        for run in case['runs']:
            x = torch.from_numpy(np.load(os.path.join(d, run['input'])))
            with torch.no_grad():
                r = model.run(x)
            produced = {'out': r['out']}
            for idx, items in yv9ref.layer_outputs(r).items():
                for suffix, t in items:
                    produced[f'layer_{idx:02d}{suffix}'] = t
            entries = [dict(run, file=run['output'], key='out')] + [
                dict(e, key=os.path.basename(e['file'])[:-4]) for e in run.get('files', [])]
            for e in entries:
                want = np.load(os.path.join(d, e['file']))
                got = produced[e['key']].numpy()
                if got.shape != want.shape:
                    good = False
                    print(f"    {case['name']}/{e['file']}: shape {got.shape} != {want.shape}")
                    continue
                if e['kind'] == 'decoded':
                    ratio = max(maxdiff(got[:, :4], want[:, :4]) / e['tol_box'],
                                maxdiff(got[:, 4:], want[:, 4:]) / e['tol_score'])
                else:
                    ratio = maxdiff(got, want) / e['tol']
                nfiles += 1
                worst = max(worst, ratio)
                if ratio > 1:
                    good = False
                    print(f"    {case['name']}/{e['file']}: {ratio:.3g} x tolerance")
        ok &= good
        print(f"[e] {case['name']:<22} {nfiles:3d} files, worst max|diff|/tol {worst:.3g}  {'OK' if good else 'FAIL'}")
    return ok


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('--fixtures', default=os.environ.get('YV9_FIXTURES', '/work/shared/fixtures'))
    ap.add_argument('--ref-data', default=os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                                                        '..', 'data', 'ref')))
    a = ap.parse_args()
    torch.set_num_threads(1)
    ok = check_gelan_t_mmqa(a.fixtures)
    ok &= check_mqa_modules(a.fixtures)
    ok &= check_pickled(a.fixtures, 'yolov9-t-train', 'stripped.pt', 'model', ['rand_128x128', 'horses_128x128'],
                        0.005, 5e-5, layers_dir='layers')
    ok &= check_pickled(a.fixtures, 'yolov9-t-train', 'train.pt', 'ema', ['rand_128x128'], 0.005, 5e-5)
    ok &= check_pickled(a.fixtures, 'gelan-t-converted', 'gelan-t-converted.pt', 'model',
                        ['rand_128x128', 'horses_128x128'], 0.05, 5e-4)
    if a.ref_data and os.path.isdir(a.ref_data):
        ok &= check_ref_data(a.ref_data)
    print('ALL OK' if ok else 'FAILURES')
    return 0 if ok else 1


if __name__ == '__main__':
    sys.exit(main())
