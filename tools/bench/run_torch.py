#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""One PyTorch benchmark process: build BenchNet from the cache, warm up, time single inferences.

    run_torch.py --dir CASE_DIR --variant full|main --img HxW [--runs N] [--warmup W] [--threads T] [--out OUT.npy]

Prints one JSON line: {"engine": "torch", "times_ms": [...], "base_rss_mb": x, "load_s": y} or
{"engine": "torch", "error": "..."}; exit 0 either way unless the process itself dies (e.g. killed by
the memory watchdog). base_rss_mb = VmRSS after importing torch, before building the model.
"""
import argparse
import json
import os
import sys
import time


def vm(field):
    with open('/proc/self/status') as f:
        for line in f:
            if line.startswith(field + ':'):
                return int(line.split()[1]) / 1024.0
    return 0.0


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('--dir', required=True)
    ap.add_argument('--variant', default='full')
    ap.add_argument('--img', required=True)
    ap.add_argument('--runs', type=int, default=1)
    ap.add_argument('--warmup', type=int, default=1)
    ap.add_argument('--threads', type=int, default=2)
    ap.add_argument('--out')
    a = ap.parse_args()
    import numpy as np
    import torch
    torch.set_num_threads(a.threads)
    base = vm('VmRSS')
    res = {'engine': 'torch', 'base_rss_mb': round(base, 1), 'torch': torch.__version__, 'threads': torch.get_num_threads()}
    try:
        import benchnet
        t0 = time.perf_counter()
        with open(os.path.join(a.dir, 'meta.json')) as f:
            meta = json.load(f)
        with open(os.path.join(a.dir, 'config.yaml'), encoding='utf-8') as f:
            text = f.read()
        h, w = benchnet.parse_hw(a.img)
        net = benchnet.build_bench_net(text, (h, w), a.variant, meta['strides'], os.path.join(a.dir, 'fused.bin'))
        x = torch.from_numpy(np.load(os.path.join(a.dir, f'input-{h}x{w}.npy')))
        res['load_s'] = round(time.perf_counter() - t0, 3)
        times = []
        with torch.inference_mode():
            for r in range(a.warmup + a.runs):
                t0 = time.perf_counter()
                y = net(x)
                dt = time.perf_counter() - t0
                if r >= a.warmup:
                    times.append(round(dt * 1e3, 3))
        res['times_ms'] = times
        if a.out:
            main_out = y[0] if isinstance(y, tuple) else y
            np.save(a.out, main_out.numpy().astype(np.float32))
    except (RuntimeError, MemoryError) as e:  # torch's allocator failing under the address-space cap
        msg = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        oom = isinstance(e, MemoryError) or 'allocate' in msg.lower() or 'memory' in msg.lower()
        res['error'] = ('out of memory: ' if oom else '') + msg[:300]
        res['oom'] = oom
    res['vmhwm_mb'] = round(vm('VmHWM'), 1)
    print(json.dumps(res), flush=True)


if __name__ == '__main__':
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    main()
