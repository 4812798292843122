#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""Reference numbers for tests/test_vision_metrics.cpp: tests/data/metrics/cases.json.

An independent NumPy transcription of the metric rules of upstream YOLOv9's val.py (written from
their description, not copied): float32 IoU with eps 1e-7; per IoU threshold the candidate
(label, prediction) pairs sorted by IoU descending (argsort + reverse), np.unique on the
prediction column, then on the label column; ap_per_class with np.interp over -conf on a
1000-point grid, compute_ap with the precision envelope, 101 points and np.trapz; the class-mean
F1 smoothed by np.convolve with a 101-tap box filter and read at its argmax.

Random cases with continuous confidences (no ties, where numpy's unstable sorts could matter).
Run: /usr/bin/python3 tests/make_metrics_cases.py  (numpy only; the output is committed).
"""
import json
import os

import numpy as np


def box_iou(a, b):
    a = a.astype(np.float32)[:, None, :]
    b = b.astype(np.float32)[None, :, :]
    w = np.clip(np.minimum(a[..., 2], b[..., 2]) - np.maximum(a[..., 0], b[..., 0]), 0, None)
    h = np.clip(np.minimum(a[..., 3], b[..., 3]) - np.maximum(a[..., 1], b[..., 1]), 0, None)
    inter = (w * h).astype(np.float32)
    area_a = (a[..., 2] - a[..., 0]) * (a[..., 3] - a[..., 1])
    area_b = (b[..., 2] - b[..., 0]) * (b[..., 3] - b[..., 1])
    return (inter / (area_a + area_b - inter + np.float32(1e-7))).astype(np.float32)


IOUV = np.array([0.5 + 0.05 * i for i in range(10)], dtype=np.float32)


def match(preds, labels):
    correct = np.zeros((len(preds), 10), dtype=bool)
    if len(preds) == 0 or len(labels) == 0:
        return correct
    iou = box_iou(labels[:, 1:5], preds[:, :4])
    same = labels[:, 0:1] == preds[:, 5][None, :]
    for t in range(10):
        li, di = np.nonzero((iou >= IOUV[t]) & same)
        if len(li) == 0:
            continue
        m = np.stack([li, di, iou[li, di]], 1).astype(np.float64)
        if len(li) > 1:
            m = m[m[:, 2].argsort()[::-1]]
            m = m[np.unique(m[:, 1], return_index=True)[1]]
            m = m[np.unique(m[:, 0], return_index=True)[1]]
        correct[m[:, 1].astype(int), t] = True
    return correct


def interp_ap(recall, precision):
    mrec = np.concatenate(([0.0], recall, [1.0]))
    mpre = np.concatenate(([1.0], precision, [0.0]))
    mpre = np.flip(np.maximum.accumulate(np.flip(mpre)))
    x = np.linspace(0, 1, 101)
    return np.trapz(np.interp(x, mrec, mpre), x)


def box_filter(y, f):
    nf = round(len(y) * f * 2) // 2 + 1
    pad = np.ones(nf // 2)
    yp = np.concatenate((pad * y[0], y, pad * y[-1]))
    return np.convolve(yp, np.ones(nf) / nf, mode="valid")


def per_class(tp, conf, pcls, tcls):
    order = np.argsort(-conf)
    tp, conf, pcls = tp[order], conf[order], pcls[order]
    classes, nt = np.unique(tcls, return_counts=True)
    px = np.linspace(0, 1, 1000)
    ap = np.zeros((len(classes), 10))
    p = np.zeros((len(classes), 1000))
    r = np.zeros((len(classes), 1000))
    for ci, c in enumerate(classes):
        sel = pcls == c
        if sel.sum() == 0:
            continue
        fpc = (1 - tp[sel]).cumsum(0)
        tpc = tp[sel].cumsum(0)
        recall = tpc / (nt[ci] + 1e-16)
        precision = tpc / (tpc + fpc)
        r[ci] = np.interp(-px, -conf[sel], recall[:, 0], left=0)
        p[ci] = np.interp(-px, -conf[sel], precision[:, 0], left=1)
        for j in range(10):
            ap[ci, j] = interp_ap(recall[:, j], precision[:, j])
    f1 = 2 * p * r / (p + r + 1e-16)
    i = box_filter(f1.mean(0), 0.1).argmax()
    return classes, nt, p[:, i], r[:, i], ap


def rand_box(rng, size=100.0):
    x, y = rng.uniform(0, size, 2)
    w, h = rng.uniform(4, 40, 2)
    return [x, y, x + w, y + h]


def make_case(rng, n_images, nc):
    images, tps, confs, pcls, tcls = [], [], [], [], []
    for _ in range(n_images):
        nl = int(rng.integers(0, 7))
        labels = np.array([[int(rng.integers(0, nc))] + rand_box(rng) for _ in range(nl)], dtype=np.float32).reshape(-1, 5)
        preds = []
        for lab in labels:
            for _ in range(int(rng.integers(0, 3))):  # near-duplicates of a label, jittered
                b = lab[1:5] + rng.normal(0, 3, 4)
                c = lab[0] if rng.uniform() < 0.8 else int(rng.integers(0, nc))
                preds.append(list(b) + [rng.uniform(0.001, 1), c])
        for _ in range(int(rng.integers(0, 4))):  # background
            preds.append(rand_box(rng) + [rng.uniform(0.001, 1), int(rng.integers(0, nc))])
        preds = np.array(preds, dtype=np.float32).reshape(-1, 6)
        preds = preds[np.argsort(-preds[:, 4], kind="stable")]  # NMS order
        correct = match(preds, labels)
        images.append({"labels": labels.tolist(), "preds": preds.tolist(), "correct": correct.astype(int).tolist()})
        tps.append(correct), confs.append(preds[:, 4]), pcls.append(preds[:, 5]), tcls.append(labels[:, 0])
    tp, conf, pc, tc = (np.concatenate(x, 0) for x in (tps, confs, pcls, tcls))
    out = {"images": images}
    if tp.any():
        classes, nt, p, r, ap = per_class(tp, conf, pc, tc)
        out["metrics"] = {"classes": classes.astype(int).tolist(), "instances": nt.tolist(), "p": p.tolist(),
                          "r": r.tolist(), "ap50": ap[:, 0].tolist(), "ap": ap.mean(1).tolist(),
                          "mp": p.mean(), "mr": r.mean(), "map50": ap[:, 0].mean(), "map": ap.mean(1).mean()}
    return out


def main():
    rng = np.random.default_rng(20261203)
    cases = [make_case(rng, n_images, nc) for n_images, nc in [(1, 1), (3, 2), (8, 3), (20, 4), (40, 4), (60, 5)]]
    # Curves for compute_ap and the box filter alone.
    curves = []
    for _ in range(6):
        n = int(rng.integers(1, 30))
        rec = np.sort(rng.uniform(0, 1, n))
        rec[rng.uniform(size=n) < 0.3] = 0  # plateaus
        rec = np.maximum.accumulate(rec)
        prec = rng.uniform(0, 1, n)
        curves.append({"recall": rec.tolist(), "precision": prec.tolist(), "ap": interp_ap(rec, prec)})
    y = rng.uniform(0, 1, 1000)
    smooth = {"y": y.tolist(), "out": box_filter(y, 0.1).tolist()}
    path = os.path.join(os.path.dirname(os.path.abspath(__file__)), "data", "metrics", "cases.json")
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w") as f:
        json.dump({"note": "made by tests/make_metrics_cases.py (numpy " + np.__version__ + ")", "cases": cases,
                   "curves": curves, "smooth": smooth}, f)
        f.write("\n")
    print(path, os.path.getsize(path), "bytes")


if __name__ == "__main__":
    main()
