#!/usr/bin/python3
"""npy_make.py DIR: write .npy files with numpy for test_npy.c to read.

Values follow formulas test_npy.c recomputes: float32 element i is
i * 0.25 - 3, int32 element i is i * 7 - 100, uint8 element i is (i * 5) % 256.
Besides numpy's own writer, some files are assembled by hand to get headers
numpy no longer writes (16-byte alignment, version 2.0/3.0, odd spacing)."""
import os
import struct
import sys

import numpy as np

out = sys.argv[1]


def f32(shape):
    n = int(np.prod(shape, dtype=np.int64))
    return (np.arange(n, dtype=np.float64) * 0.25 - 3).astype('<f4').reshape(shape)


def save(name, arr):
    np.save(os.path.join(out, name), arr)


def raw(name, header, data, version=(1, 0), align=None):
    """Write a .npy with a literal header dict text."""
    h = header.encode('latin1')
    pre = 10 if version[0] == 1 else 12
    if align:
        h += b' ' * ((-(pre + len(h) + 1)) % align)
    h += b'\n'
    with open(os.path.join(out, name), 'wb') as f:
        f.write(b'\x93NUMPY' + bytes(version))
        f.write(struct.pack('<H' if version[0] == 1 else '<I', len(h)))
        f.write(h)
        f.write(data)


save('f32_3x4.npy', f32((3, 4)))
save('f32_0x5.npy', f32((0, 5)))
save('f32_scalar.npy', f32(()))
save('i32_7.npy', (np.arange(7, dtype=np.int64) * 7 - 100).astype('<i4'))
save('u8_2x3x4.npy', ((np.arange(24) * 5) % 256).astype(np.uint8).reshape(2, 3, 4))
# Headers numpy does not write today: 16-byte alignment (numpy < 1.14), odd
# spacing and key order, a trailing comma in a 1-tuple, Python 2 longs.
raw('f32_align16.npy', "{'descr': '<f4', 'fortran_order': False, 'shape': (5, 3), }",
    f32((5, 3)).tobytes(), align=16)
raw('f32_odd.npy', "{ 'shape' : ( 2 , 3 , ) ,'fortran_order':False,\"descr\":'<f4'}",
    f32((2, 3)).tobytes())
raw('f32_long.npy', "{'descr': '<f4', 'fortran_order': False, 'shape': (2L, 2L), }",
    f32((2, 2)).tobytes(), align=64)
raw('f32_v2.npy', "{'descr': '<f4', 'fortran_order': False, 'shape': (4, 2), }" + ' ' * 70000,
    f32((4, 2)).tobytes(), version=(2, 0), align=64)
raw('f32_v3.npy', "{'descr': '<f4', 'fortran_order': False, 'shape': (3,), }",
    f32((3,)).tobytes(), version=(3, 0), align=64)
# Refused ones.
save('f64.npy', np.zeros((2, 2), dtype='<f8'))
save('f32_be.npy', np.zeros((2, 2), dtype='>f4'))
save('fortran.npy', np.asfortranarray(f32((2, 3))))
save('structured.npy', np.zeros(3, dtype=[('a', '<f4'), ('b', '<i4')]))
raw('short.npy', "{'descr': '<f4', 'fortran_order': False, 'shape': (10, 20), }",
    b'\0' * 400, align=64)
raw('long.npy', "{'descr': '<f4', 'fortran_order': False, 'shape': (2,), }",
    b'\0' * 12, align=64)
raw('overflow.npy', "{'descr': '<f4', 'fortran_order': False, 'shape': (4611686018427387904, 4), }",
    b'', align=64)
# numel is 0, but a row (2^32 x 2^32 elements) overflows: it once wrapped to 0
raw('overflow_row.npy', "{'descr': '<f4', 'fortran_order': False, 'shape': (0, 4294967296, 4294967296), }",
    b'', align=64)
raw('notuple.npy', "{'descr': '<f4', 'fortran_order': False, 'shape': (5)}", b'\0' * 20)
raw('dupkey.npy', "{'descr': '<f4', 'descr': '<f4', 'fortran_order': False, 'shape': (1,)}", b'\0' * 4)
raw('nokey.npy', "{'descr': '<f4', 'shape': (1,)}", b'\0' * 4)
raw('negative.npy', "{'descr': '<f4', 'fortran_order': False, 'shape': (-1,)}", b'')
with open(os.path.join(out, 'hugehdr.npy'), 'wb') as f:
    f.write(b'\x93NUMPY\x02\x00' + struct.pack('<I', 70000) + b'{' * 100)
with open(os.path.join(out, 'badmagic.npy'), 'wb') as f:
    f.write(b'PK\x03\x04 not an npy file at all')
with open(os.path.join(out, 'v9.npy'), 'wb') as f:
    f.write(b'\x93NUMPY\x09\x00' + b'\0' * 64)
