#!/usr/bin/python3
"""npy_check.py FILE KIND: load a .npy written by li_npy with numpy.load and
check it. KIND is f32:R,C (values i * 0.25 - 3), i32:N (i * 7 - 100),
u8:A,B,C ((i * 5) % 256). Prints the first difference and exits 1 on failure."""
import sys

import numpy as np

path, kind = sys.argv[1], sys.argv[2]
dt, dims = kind.split(':')
shape = tuple(int(x) for x in dims.split(',') if x)
a = np.load(path, allow_pickle=False)
n = int(np.prod(shape, dtype=np.int64))
i = np.arange(n, dtype=np.float64)
want = {'f32': (i * 0.25 - 3).astype('<f4'),
        'i32': (i * 7 - 100).astype('<i4'),
        'u8': ((i * 5) % 256).astype(np.uint8)}[dt].reshape(shape)
with open(path, 'rb') as f:
    head = f.read(10)
problems = []
if head[6:8] != b'\x01\x00':
    problems.append('version %r, want 1.0' % head[6:8])
if (10 + head[8] + 256 * head[9]) % 64:
    problems.append('data offset not 64-aligned')
if a.dtype != want.dtype:
    problems.append('dtype %s, want %s' % (a.dtype, want.dtype))
if a.shape != want.shape:
    problems.append('shape %s, want %s' % (a.shape, want.shape))
elif not np.array_equal(a, want):
    k = int(np.argmax(a.ravel() != want.ravel()))
    problems.append('element %d is %r, want %r' % (k, a.ravel()[k], want.ravel()[k]))
if not a.flags['C_CONTIGUOUS']:
    problems.append('not C order')
for p in problems:
    print('npy_check: %s: %s' % (path, p), file=sys.stderr)
sys.exit(1 if problems else 0)
