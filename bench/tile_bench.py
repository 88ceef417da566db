#!/usr/bin/python3
"""tile_bench.py: the Python side of bench/run-tile.

  tile_bench.py pyramid SRC OUT.tif [SIZE]   write a SIZExSIZE tiled JPEG pyramid TIFF
                                            (SRC repeated, 0.5 um/px in its resolution tags)
  tile_bench.py tile SLIDE OUTDIR MPP SIZE   CLAM-style tiling: the reference for li-tile
  tile_bench.py measure CMD...               run CMD, print "seconds max_rss_kb cpu_seconds"

The reference does what CLAM's create_patches_fp does, with openslide-python,
numpy and PIL only (no OpenCV): segment tissue on a thumbnail (HSV saturation,
median blur, Otsu, closing, holes filled), lay the same grid as li-tile, keep
tiles with tissue >= 0.5, read each with read_region at the best level, resize
when needed and save as PNG (zlib level 6, li-tile's default too).
It leaves out the removal of small regions (CLAM's a_t filter) and Otsu's floor:
both cost nothing measurable.
"""
import io
import os
import resource
import struct
import subprocess
import sys
import time

import numpy as np
import openslide
from PIL import Image, ImageFilter

SEG_UM, SEG_MAX = 4.0, 2048


def otsu(a):
    hist = np.bincount(a.ravel(), minlength=256).astype(np.float64)
    n = hist.sum()
    i = np.arange(256)
    w0 = np.cumsum(hist)
    s0 = np.cumsum(hist * i)
    w1 = n - w0
    with np.errstate(divide="ignore", invalid="ignore"):
        d = s0 / w0 - (s0[-1] - s0) / w1
        v = w0 * w1 * d * d
    v[~np.isfinite(v)] = -1
    return int(np.argmax(v))


def fill_holes(m):
    """Background not 4-connected to the border becomes foreground."""
    bg = ~m
    reach = np.zeros_like(m)
    reach[0, :], reach[-1, :], reach[:, 0], reach[:, -1] = bg[0, :], bg[-1, :], bg[:, 0], bg[:, -1]
    while True:
        grow = reach.copy()
        grow[1:, :] |= reach[:-1, :]
        grow[:-1, :] |= reach[1:, :]
        grow[:, 1:] |= reach[:, :-1]
        grow[:, :-1] |= reach[:, 1:]
        grow &= bg
        if (grow == reach).all():
            return m | ~reach
        reach = grow


def tile(slide_path, outdir, mpp, size):
    s = openslide.OpenSlide(slide_path)
    W, H = s.dimensions
    mpp0 = float(s.properties.get(openslide.PROPERTY_NAME_MPP_X) or 0)
    if not mpp0:
        unit = s.properties.get("tiff.ResolutionUnit")
        res = float(s.properties["tiff.XResolution"])
        mpp0 = (25400.0 if unit == "inch" else 10000.0) / res
    # segmentation thumbnail, as li-tile: about 4 um/px
    seg_ds = max(1.0, SEG_UM / mpp0, max(W, H) / SEG_MAX)
    tw, th = max(1, round(W / seg_ds)), max(1, round(H / seg_ds))
    lvl = s.get_best_level_for_downsample(seg_ds)
    img = s.read_region((0, 0), lvl, s.level_dimensions[lvl]).convert("RGB")
    img = img.resize((tw, th), Image.BOX)
    sat = img.convert("HSV").getchannel("S").filter(ImageFilter.MedianFilter(7))
    a = np.asarray(sat)
    mask = a > max(otsu(a), 8)
    m = Image.fromarray(mask.astype(np.uint8) * 255)
    m = m.filter(ImageFilter.MaxFilter(5)).filter(ImageFilter.MinFilter(5))
    mask = fill_holes(np.asarray(m) > 0)
    sx, sy = W / tw, H / th
    # the grid
    D = mpp / mpp0
    level = s.get_best_level_for_downsample(D)
    lds = s.level_downsamples[level]
    if abs(D / lds - 1) < 0.01:
        D = lds
    rs = round(size * D / lds)
    ext = size * D
    os.makedirs(outdir, exist_ok=True)
    name = os.path.splitext(os.path.basename(slide_path))[0]
    n = 0
    j = 0
    while round(j * ext) + ext <= H + 0.5:
        y = round(j * ext)
        i = 0
        while round(i * ext) + ext <= W + 0.5:
            x = round(i * ext)
            x0, x1 = int(x / sx), max(int(x / sx) + 1, int((x + ext) / sx))
            y0, y1 = int(y / sy), max(int(y / sy) + 1, int((y + ext) / sy))
            if mask[y0:y1, x0:x1].mean() >= 0.5:
                t = s.read_region((x, y), level, (rs, rs)).convert("RGB")
                if rs != size:
                    t = t.resize((size, size), Image.BOX)
                t.save(os.path.join(outdir, "%s_x%06d_y%06d.png" % (name, x, y)), compress_level=6)
                n += 1
            i += 1
        j += 1
    print(n)


def pyramid(src, out, size=8192):
    """A generic tiled TIFF pyramid (JPEG tiles, YCbCr 4:2:0), SRC repeated."""
    s = openslide.OpenSlide(src)
    base = np.asarray(s.read_region((0, 0), 0, s.dimensions).convert("RGB"))
    reps = (-(-size // base.shape[0]), -(-size // base.shape[1]), 1)
    level = Image.fromarray(np.tile(base, reps)[:size, :size])
    del base
    T = 256
    ifds = []
    body = bytearray(b"II*\0\0\0\0\0")  # header; first IFD offset patched below
    while True:
        w, h = level.size
        offs, counts = [], []
        for ty in range(0, h, T):
            for tx in range(0, w, T):
                b = io.BytesIO()
                level.crop((tx, ty, tx + T, ty + T)).save(b, "JPEG", quality=85, subsampling=2)
                offs.append(len(body))
                counts.append(len(b.getvalue()))
                body += b.getvalue()
                if len(body) % 2:
                    body += b"\0"
        ifds.append((w, h, offs, counts))
        if w <= 512:
            break
        level = level.reduce(2)
    # IFDs after the tile data
    prev_link = 4
    for k, (w, h, offs, counts) in enumerate(ifds):
        extra = bytearray()
        base_off = len(body)
        tags = [
            (254, 4, [0 if k == 0 else 1]), (256, 4, [w]), (257, 4, [h]),
            (258, 3, [8, 8, 8]), (259, 3, [7]), (262, 3, [6]), (277, 3, [3]),
            (282, 5, [20000, 1]), (283, 5, [20000, 1]), (284, 3, [1]), (296, 3, [3]),
            (322, 3, [T]), (323, 3, [T]), (324, 4, offs), (325, 4, counts), (530, 3, [2, 2]),
        ]
        ifd_size = 2 + 12 * len(tags) + 4
        entries = bytearray()
        for tag, typ, vals in tags:
            fmt = {3: "H", 4: "I", 5: "II"}[typ]
            count = len(vals) if typ != 5 else 1
            data = struct.pack("<" + fmt * (len(vals) if typ != 5 else 1),
                               *(vals if typ != 5 else vals))
            if len(data) <= 4:
                entries += struct.pack("<HHI", tag, typ, count) + data.ljust(4, b"\0")
            else:
                off = base_off + ifd_size + len(extra)
                entries += struct.pack("<HHII", tag, typ, count, off)
                extra += data
                if len(extra) % 2:
                    extra += b"\0"
        body[prev_link:prev_link + 4] = struct.pack("<I", base_off)
        body += struct.pack("<H", len(tags)) + entries
        prev_link = len(body)
        body += b"\0\0\0\0" + extra
    with open(out, "wb") as f:
        f.write(body)


def measure(cmd):
    t = time.monotonic()
    rc = subprocess.call(cmd, stdout=subprocess.DEVNULL)
    dt = time.monotonic() - t
    if rc not in (0, 3):
        sys.exit("tile_bench: %s exited %d" % (cmd[0], rc))
    ru = resource.getrusage(resource.RUSAGE_CHILDREN)
    print("%.3f %d %.3f" % (dt, ru.ru_maxrss, ru.ru_utime + ru.ru_stime))


if __name__ == "__main__":
    if len(sys.argv) >= 4 and sys.argv[1] == "pyramid":
        pyramid(sys.argv[2], sys.argv[3], int(sys.argv[4]) if len(sys.argv) > 4 else 8192)
    elif len(sys.argv) == 6 and sys.argv[1] == "tile":
        tile(sys.argv[2], sys.argv[3], float(sys.argv[4]), int(sys.argv[5]))
    elif len(sys.argv) >= 3 and sys.argv[1] == "measure":
        measure(sys.argv[2:])
    else:
        sys.exit(__doc__)
