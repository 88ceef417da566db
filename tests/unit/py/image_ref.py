#!/usr/bin/python3
"""image_ref.py: reference pixels for test_image.c, from PIL (a second decoder).

usage: image_ref.py OUTDIR FILE...
       image_ref.py --resize IN.png OUT.rgb WIDTH HEIGHT BOX|BILINEAR

For each FILE writes OUTDIR/<basename>.rgb (8-bit RGB, HWC) and
OUTDIR/<basename>.gray (PIL's convert("L") of that RGB), and prints
"<basename>\t<width>\t<height>" on stdout; a file PIL cannot decode prints
"<basename>\terror\t<message>". The rules are li_image.h's: alpha and tRNS
composited onto white, 16-bit samples keep their high byte.

PIL gives 16-bit RGB(A) only as high bytes, which is enough except for a
16-bit tRNS colour key (all 16 bits must match), so 16-bit PNGs are decoded
here by a small independent decoder (zlib + unfilter + Adam7), whose high
bytes are checked against PIL's before use.
"""
import os
import struct
import sys
import zlib

import numpy as np
from PIL import Image


def chunks(data):
    pos = 8
    while pos + 8 <= len(data):
        n, typ = struct.unpack(">I4s", data[pos:pos + 8])
        yield typ, data[pos + 8:pos + 8 + n]
        pos += 12 + n


def unfilter(ft, line, prev, bpp):
    for i in range(len(line)):
        a = line[i - bpp] if i >= bpp else 0
        b = prev[i]
        c = prev[i - bpp] if i >= bpp else 0
        if ft == 1:
            p = a
        elif ft == 2:
            p = b
        elif ft == 3:
            p = (a + b) // 2
        elif ft == 4:
            pa, pb, pc = abs(b - c), abs(a - c), abs(a + b - 2 * c)
            p = a if pa <= pb and pa <= pc else b if pb <= pc else c
        else:
            p = 0
        line[i] = (line[i] + p) & 255


ADAM7 = [(0, 0, 8, 8), (4, 0, 8, 8), (0, 4, 4, 8), (2, 0, 4, 4), (0, 2, 2, 4), (1, 0, 2, 2), (0, 1, 1, 2)]


def decode16(data):
    """(samples uint16 HxWxC, trns bytes or None) of a 16-bit non-palette PNG."""
    idat, trns = b"", None
    for typ, body in chunks(data):
        if typ == b"IHDR":
            w, h, bd, ct, _, _, il = struct.unpack(">IIBBBBB", body)
        elif typ == b"IDAT":
            idat += body
        elif typ == b"tRNS":
            trns = body
    assert bd == 16
    ch = {0: 1, 2: 3, 4: 2, 6: 4}[ct]
    bpp = 2 * ch
    raw = zlib.decompress(idat)
    out = np.zeros((h, w, ch), np.uint16)
    off = 0
    for xs, ys, dx, dy in ADAM7 if il else [(0, 0, 1, 1)]:
        pw = (w - xs + dx - 1) // dx if w > xs else 0
        ph = (h - ys + dy - 1) // dy if h > ys else 0
        if pw == 0 or ph == 0:
            continue
        stride = pw * bpp
        prev = bytearray(stride)
        rows = []
        for _ in range(ph):
            ft = raw[off]
            line = bytearray(raw[off + 1:off + 1 + stride])
            off += 1 + stride
            unfilter(ft, line, prev, bpp)
            rows.append(bytes(line))
            prev = line
        out[ys::dy, xs::dx] = np.frombuffer(b"".join(rows), ">u2").reshape(ph, pw, ch)
    return out, trns


def over_white(v, a):
    v = v.astype(np.uint32)
    a = a.astype(np.uint32)
    return ((v * a + 255 * (255 - a) + 127) // 255).astype(np.uint8)


def to_rgb(gray_or_rgb, alpha):
    x = gray_or_rgb
    if x.ndim == 2:
        x = np.stack([x] * 3, axis=2)
    if alpha is None:
        return x.astype(np.uint8)
    return over_white(x, alpha[:, :, None] * np.ones((1, 1, 3), np.uint32))


def png_bit_depth(data):
    for typ, body in chunks(data):
        if typ == b"IHDR":
            return body[8]
    return 8


def reference(path):
    data = open(path, "rb").read()
    im = Image.open(path)
    im.load()
    if data[:8] == b"\x89PNG\r\n\x1a\n" and png_bit_depth(data) == 16:
        s, trns = decode16(data)
        hi = (s >> 8).astype(np.uint8)
        # The small decoder must agree with PIL wherever PIL keeps the samples.
        pil = np.array(im)
        if im.mode in ("I", "I;16", "I;16B"):
            assert np.array_equal(pil.astype(np.int64), s[:, :, 0].astype(np.int64)), path
        elif im.mode == "RGBA" and hi.shape[2] == 2:  # PIL widens 16-bit LA to RGBA
            assert np.array_equal(pil[:, :, 0], hi[:, :, 0]), path
            assert np.array_equal(pil[:, :, 3], hi[:, :, 1]), path
        else:
            assert np.array_equal(pil.reshape(hi.shape), hi), path
        ch = s.shape[2]
        if ch in (2, 4):
            return to_rgb(hi[:, :, 0] if ch == 2 else hi[:, :, :3], hi[:, :, ch - 1])
        alpha = None
        if trns is not None:
            key = np.frombuffer(trns, ">u2")
            alpha = np.where(np.all(s == key, axis=2), 0, 255)
        return to_rgb(hi[:, :, 0] if ch == 1 else hi, alpha)
    mode = im.mode
    t = im.info.get("transparency")
    if mode == "P":
        a = np.array(im.convert("RGBA"))
        return to_rgb(a[:, :, :3], a[:, :, 3])
    if mode in ("1", "L"):
        g = np.array(im.convert("L"))
        alpha = None
        if t is not None:
            # PIL keeps a low-bit-depth gray key unscaled; scale it as libpng does.
            bd = png_bit_depth(data)
            key = t * 255 // ((1 << bd) - 1)
            alpha = np.where(g == key, 0, 255)
        return to_rgb(g, alpha)
    if mode == "LA":
        a = np.array(im)
        return to_rgb(a[:, :, 0], a[:, :, 1])
    if mode == "RGB":
        a = np.array(im)
        alpha = None
        if t is not None:
            alpha = np.where(np.all(a == np.array(t), axis=2), 0, 255)
        return to_rgb(a, alpha)
    if mode == "RGBA":
        a = np.array(im)
        return to_rgb(a[:, :, :3], a[:, :, 3])
    if mode == "CMYK":
        return np.array(im.convert("RGB"))
    raise ValueError("mode " + mode)


def main():
    if sys.argv[1] == "--resize":
        src, dst, w, h, filt = sys.argv[2:7]
        im = Image.open(src).convert("RGB").resize((int(w), int(h)), getattr(Image, filt))
        with open(dst, "wb") as f:
            f.write(im.tobytes())
        return
    out = sys.argv[1]
    for path in sys.argv[2:]:
        name = os.path.basename(path)
        try:
            rgb = reference(path)
        except (OSError, ValueError, SyntaxError) as e:
            print("%s\terror\t%s" % (name, str(e).replace("\t", " ").replace("\n", " ")))
            continue
        with open(os.path.join(out, name + ".rgb"), "wb") as f:
            f.write(np.ascontiguousarray(rgb).tobytes())
        gray = np.array(Image.fromarray(rgb, "RGB").convert("L"))
        with open(os.path.join(out, name + ".gray"), "wb") as f:
            f.write(gray.tobytes())
        print("%s\t%d\t%d" % (name, rgb.shape[1], rgb.shape[0]))


if __name__ == "__main__":
    main()
