#!/usr/bin/python3
"""st_check.py FILE: parse a safetensors file written by test_safetensors.c
with plain json + numpy and check it against what the C test wrote: header
8-byte aligned and padded with spaces, metadata, tensors in the order added,
contiguous offsets, the file ending where the data ends, and the values."""
import json
import struct
import sys

import numpy as np

path = sys.argv[1]
blob = open(path, 'rb').read()
problems = []
(n,) = struct.unpack('<Q', blob[:8])
text = blob[8:8 + n]
if (8 + n) % 8:
    problems.append('header end %d not 8-aligned' % (8 + n))
stripped = text.rstrip(b' ')
if b'\0' in text or not stripped.endswith(b'}'):
    problems.append('header not padded with spaces')
hdr = json.loads(text.decode('utf-8'))
meta = hdr.pop('__metadata__', None)
want_meta = {'arch': 'resnet18', 'command': 'li-train --epochs 3 "a b"\ttab', 'utf8': 'h\u00e9llo'}
if meta != want_meta:
    problems.append('metadata %r, want %r' % (meta, want_meta))
data = blob[8 + n:]
names = list(hdr)
if names != ['w', 'n', 'h', 'empty']:
    problems.append('tensor order %r' % names)
pos = 0
for k in names:
    b, e = hdr[k]['data_offsets']
    if b != pos:
        problems.append('%s starts at %d, want %d' % (k, b, pos))
    pos = e
if pos != len(data):
    problems.append('data ends at %d, file data is %d bytes' % (pos, len(data)))


def arr(name, dt):
    t = hdr[name]
    b, e = t['data_offsets']
    return np.frombuffer(data[b:e], dtype=dt).reshape(t['shape'])


want_w = (np.arange(12, dtype=np.float64) * 0.25 - 3).astype('<f4').reshape(3, 4)
checks = [('w', '<f4', want_w),
          ('n', '<i8', np.array([1, -2, 2**40], dtype='<i8')),
          ('h', '<f2', np.array([1.0, -2.5, 2.0**-24, np.inf], dtype='<f2')),
          ('empty', '<f4', np.zeros((0, 7), dtype='<f4'))]
for name, dt, want in checks:
    if name not in hdr:
        continue
    dtype_name = {'<f4': 'F32', '<i8': 'I64', '<f2': 'F16'}[dt]
    if hdr[name]['dtype'] != dtype_name:
        problems.append('%s dtype %s' % (name, hdr[name]['dtype']))
        continue
    got = arr(name, dt)
    if got.shape != want.shape or not np.array_equal(got, want):
        problems.append('%s is %r, want %r' % (name, got, want))
for p in problems:
    print('st_check: %s: %s' % (path, p), file=sys.stderr)
sys.exit(1 if problems else 0)
