#!/usr/bin/python3
"""e2e_make_data.py DIR N [--seed S]: N synthetic 224x224 RGB PNG patches for
bench/run-e2e, and DIR/list.tsv (path, label; absolute paths).

The patches look like H&E at a glance, so that PNG decoding costs what it
costs on real patches (deflate finds little to match in noisy tissue; these
files are 100-130 kB, like 224-pixel H&E tiles): a pink stroma background
with low-frequency variation and pixel noise, 25-60 dark purple nuclei, and
for class 1 (every third patch) three to six large pale blobs, the class
signal. Deterministic for a given seed. Needs numpy and PIL.
"""
import argparse
import os
import sys

import numpy as np
from PIL import Image

SIZE = 224


def smooth_field(rng, cells, size):
    """Low-frequency noise: a cells x cells grid upsampled bilinearly."""
    g = rng.standard_normal((cells, cells)).astype(np.float32)
    im = Image.fromarray(g, mode="F").resize((size, size), Image.BILINEAR)
    return np.asarray(im, dtype=np.float32)


def blobs(rng, img, count, rmin, rmax, colour, alpha):
    """Blend `count` soft ellipses of `colour` into img (float HxWx3)."""
    yy, xx = np.mgrid[0:SIZE, 0:SIZE].astype(np.float32)
    for _ in range(count):
        cy, cx = rng.uniform(0, SIZE, 2)
        ry, rx = rng.uniform(rmin, rmax, 2)
        y0, y1 = int(max(cy - ry - 2, 0)), int(min(cy + ry + 3, SIZE))
        x0, x1 = int(max(cx - rx - 2, 0)), int(min(cx + rx + 3, SIZE))
        if y0 >= y1 or x0 >= x1:
            continue
        d = ((yy[y0:y1, x0:x1] - cy) / ry) ** 2 + ((xx[y0:y1, x0:x1] - cx) / rx) ** 2
        w = alpha * np.clip(1.5 - d, 0, 1)[..., None]   # soft edge
        img[y0:y1, x0:x1] = img[y0:y1, x0:x1] * (1 - w) + np.asarray(colour, np.float32) * w


def patch(rng, label):
    stroma = np.array([232, 170, 200], np.float32)
    img = np.empty((SIZE, SIZE, 3), np.float32)
    img[:] = stroma
    img += smooth_field(rng, 7, SIZE)[..., None] * np.array([10, 22, 14], np.float32)
    img += smooth_field(rng, 28, SIZE)[..., None] * 8
    blobs(rng, img, int(rng.integers(25, 61)), 2.5, 6.0, (95, 55, 140), 0.85)   # nuclei
    if label:
        blobs(rng, img, int(rng.integers(3, 7)), 14, 30, (250, 236, 244), 0.9)  # the signal
    img += rng.normal(0, 9, img.shape).astype(np.float32)                       # sensor noise
    return np.clip(img + 0.5, 0, 255).astype(np.uint8)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("dir")
    ap.add_argument("n", type=int)
    ap.add_argument("--seed", type=int, default=20241127)
    a = ap.parse_args()
    if a.n < 2:
        print("e2e_make_data.py: N must be at least 2", file=sys.stderr)
        return 2
    d = os.path.abspath(a.dir)
    os.makedirs(d, exist_ok=True)
    rng = np.random.default_rng(a.seed)
    rows = []
    for i in range(a.n):
        label = 1 if i % 3 == 0 else 0
        path = os.path.join(d, f"p{i:06d}_{label}.png")
        Image.fromarray(patch(rng, label), "RGB").save(path)   # PIL's default: zlib level 6
        rows.append(f"{path}\t{label}\n")
    with open(os.path.join(d, "list.tsv"), "w") as f:
        f.write("path\tlabel\n")
        f.writelines(rows)
    return 0


if __name__ == "__main__":
    sys.exit(main())
