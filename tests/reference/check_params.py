#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""Check yv9ref's builder against upstream's parse_model tables in fixtures/configs/params.txt.

For every section of params.txt: per layer (index, from, n, params, module type, arguments) and the
totals (parameters, gradients, state-dict tensor and element counts incl. BN buffers, nc); head
strides too for models small enough to probe at 256x256 quickly (--strides all: every model).
Usage: check_params.py [--configs DIR] [--strides small|all|none]   (exit 1 on any mismatch)
"""
import argparse
import os
import re
import sys

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import yv9ref  # noqa: E402

ROW = re.compile(r'^\s*(\d+)\s*(-?\d+|\[[^\]]*\])\s+(\d+)\s+(\d+)\s+(\S+)\s*(.*?)\s*$')
TOTAL = re.compile(r'^TOTAL parameters (\d+)\s+\(state_dict tensors incl\. BN buffers: (\d+), elements (\d+)\); '
                   r'head strides (\[[^\]]*\]); nc=(\d+)')
SUMMARY = re.compile(r'summary: (\d+) layers, (\d+) parameters, (\d+) gradients')
HEADER = re.compile(r'^===== (\S+) \((.*)\)')


def parse_params_txt(path):
    sections, cur = [], None
    for line in open(path, encoding='utf-8'):
        line = line.rstrip('\n')
        h = HEADER.match(line)
        if h:
            nc_override = re.match(r'nc=(\d+) passed', h.group(2))
            cur = {'file': h.group(1), 'nc_override': int(nc_override.group(1)) if nc_override else None,
                   'rows': []}
            sections.append(cur)
            continue
        if cur is None:
            continue
        r = ROW.match(line)
        if r and ('models.' in line or 'torch.' in line):
            cur['rows'].append(dict(i=int(r.group(1)), f=r.group(2), n=int(r.group(3)), params=int(r.group(4)),
                                    type=r.group(5), args=r.group(6)))
            continue
        s = SUMMARY.search(line)
        if s:
            cur['gradients'] = int(s.group(3))
            continue
        t = TOTAL.match(line)
        if t:
            cur.update(total=int(t.group(1)), sd_tensors=int(t.group(2)), sd_elements=int(t.group(3)),
                       strides=eval(t.group(4)), nc=int(t.group(5)))
    return sections


def check_section(sec, cfg_dir, strides_mode):
    torch.manual_seed(0)
    model = yv9ref.build_model(os.path.join(cfg_dir, sec['file']), nc=sec['nc_override'])
    errors = []
    if len(model.layer_info) != len(sec['rows']):
        errors.append(f"layer count {len(model.layer_info)} != {len(sec['rows'])}")
    for info, row in zip(model.layer_info, sec['rows']):
        got = dict(i=info.i, f=str(info.f), n=info.n, params=info.params, type=info.type, args=str(info.args))
        for key in ('i', 'f', 'n', 'params', 'type', 'args'):
            if got[key] != row[key]:
                errors.append(f"layer {row['i']}: {key} {got[key]!r} != upstream {row[key]!r}")
    total = sum(p.numel() for p in model.parameters())
    grads = sum(p.numel() for p in model.parameters() if p.requires_grad)
    sd = model.state_dict()
    sd_elems = sum(t.numel() for t in sd.values())
    checks = [('total params', total, sec['total']), ('gradients', grads, sec['gradients']),
              ('state_dict tensors', len(sd), sec['sd_tensors']), ('state_dict elements', sd_elems, sec['sd_elements']),
              ('nc', model.yaml['nc'], sec['nc'])]
    probe = strides_mode == 'all' or (strides_mode == 'small' and total < 10_000_000)
    if probe:
        model.eval()
        checks.append(('head strides', model.strides(), sec['strides']))
    for name, got, want in checks:
        if got != want:
            errors.append(f'{name}: {got} != upstream {want}')
    return total, len(sd), sd_elems, probe, errors


def main():
    ap = argparse.ArgumentParser()
    here = os.path.dirname(os.path.abspath(__file__))
    ap.add_argument('--configs', default=os.environ.get('YV9_FIXTURES', '/work/shared/fixtures') + '/configs')
    ap.add_argument('--strides', choices=['small', 'all', 'none'], default='small')
    a = ap.parse_args()
    torch.set_num_threads(1)
    sections = parse_params_txt(os.path.join(a.configs, 'params.txt'))
    bad = 0
    print(f"{'config':<44}{'layers':>7}{'params':>12}{'sd tensors':>11}{'sd elements':>13}  strides  result")
    for sec in sections:
        label = sec['file'] + (f" (nc={sec['nc_override']})" if sec['nc_override'] else '')
        total, nt, ne, probed, errors = check_section(sec, a.configs, a.strides)
        status = 'OK' if not errors else f'FAIL ({len(errors)})'
        print(f"{label:<44}{len(sec['rows']):>7}{total:>12,}{nt:>11}{ne:>13,}  {'checked' if probed else 'skipped':<8} {status}")
        for e in errors[:20]:
            print('    ' + e)
        bad += bool(errors)
    print(f'{len(sections) - bad}/{len(sections)} configs match upstream parse_model (per layer and totals)')
    return 1 if bad else 0


if __name__ == '__main__':
    sys.exit(main())
