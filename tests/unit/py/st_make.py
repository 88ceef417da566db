#!/usr/bin/python3
"""st_make.py DIR: write safetensors files by hand (json header + bytes, as
the spec describes) for test_safetensors.c: good.safetensors with F32, F16,
BF16, F64, I64, I32, U8 and empty tensors plus metadata, and bad_*.safetensors,
one per corruption the reader must refuse. test_safetensors.c knows the values
below and the message each bad file must give."""
import json
import os
import struct
import sys

import numpy as np

out = sys.argv[1]


def write(name, header, data, header_text=None, pad=0):
    text = header_text if header_text is not None else json.dumps(header)
    h = text.encode('utf-8') + b' ' * pad
    with open(os.path.join(out, name), 'wb') as f:
        f.write(struct.pack('<Q', len(h)) + h + data)


def build(tensors, meta=None, order=None, pad=0, name=None):
    """tensors: list of (name, dtype, shape, bytes) in data order."""
    header, data, off = {}, b'', 0
    for tname, dt, shape, raw in tensors:
        header[tname] = {'dtype': dt, 'shape': list(shape), 'data_offsets': [off, off + len(raw)]}
        data += raw
        off += len(raw)
    if order == 'reverse':  # header order need not follow data order
        header = dict(reversed(list(header.items())))
    if meta is not None:
        header['__metadata__'] = meta
    write(name, header, data, pad=pad)


f32 = (np.arange(6, dtype=np.float64) * 0.25 - 3).astype('<f4')
f16 = np.array([1.0, -2.5, 3 * 2.0**-24, 2.0**-24, 2.0**-14, 65504, np.inf, -np.inf, np.nan, 0.0, -0.0],
               dtype='<f2')
bf_src = np.array([1.0, -2.5, 2.0**-130, np.inf, 3.0e38, np.nan], dtype='<f4')
bf16 = (bf_src.view('<u4') >> 16).astype('<u2')  # exact: these values fit bfloat16
f64 = np.array([0.1, -1e10, 2.0**-30], dtype='<f8')
i64 = np.array([10, -3, 2**40], dtype='<i8')
i32 = np.array([7, -8], dtype='<i4')
u8 = np.array([0, 128, 255], dtype='u1')
build([('w', 'F32', (2, 3), f32.tobytes()),
       ('h', 'F16', (11,), f16.tobytes()),
       ('b', 'BF16', (2, 3), bf16.tobytes()),
       ('empty', 'F32', (0, 4), b''),
       ('d', 'F64', (3,), f64.tobytes()),
       ('n', 'I64', (3,), i64.tobytes()),
       ('i', 'I32', (2, 1), i32.tobytes()),
       ('u', 'U8', (3,), u8.tobytes())],
      meta={'arch': 'resnet18', 'note': 'h\u00e9llo "quoted"'}, order='reverse', pad=3,
      name='good.safetensors')

z8 = b'\0' * 8
build([('a', 'F32', (2,), z8), ('b', 'F32', (2,), z8)], name='bad_hole.safetensors')
write('bad_hole.safetensors', {'a': {'dtype': 'F32', 'shape': [2], 'data_offsets': [0, 8]},
                               'b': {'dtype': 'F32', 'shape': [2], 'data_offsets': [12, 20]}}, b'\0' * 20)
write('bad_overlap.safetensors', {'a': {'dtype': 'F32', 'shape': [2], 'data_offsets': [0, 8]},
                                  'b': {'dtype': 'F32', 'shape': [2], 'data_offsets': [4, 12]}}, b'\0' * 12)
write('bad_truncated.safetensors', {'x': {'dtype': 'F32', 'shape': [200], 'data_offsets': [0, 800]}},
      b'\0' * 400)
write('bad_trailing.safetensors', {'a': {'dtype': 'F32', 'shape': [2], 'data_offsets': [0, 8]}}, b'\0' * 12)
write('bad_nbytes.safetensors', {'a': {'dtype': 'F32', 'shape': [2], 'data_offsets': [0, 12]}}, b'\0' * 12)
write('bad_dtype.safetensors', {'a': {'dtype': 'F8_E4M3', 'shape': [2], 'data_offsets': [0, 2]}}, b'\0' * 2)
write('bad_negative.safetensors', {'a': {'dtype': 'F32', 'shape': [-1, 2], 'data_offsets': [0, 0]}}, b'')
write('bad_backwards.safetensors', {'a': {'dtype': 'F32', 'shape': [1], 'data_offsets': [8, 4]}}, b'\0' * 8)
write('bad_huge_shape.safetensors',
      {'a': {'dtype': 'F32', 'shape': [2**62, 2**62], 'data_offsets': [0, 0]}}, b'')
write('bad_zero_huge.safetensors',
      {'a': {'dtype': 'F32', 'shape': [0, 2**32, 2**32], 'data_offsets': [0, 0]}}, b'')
write('bad_meta.safetensors', {'__metadata__': {'epoch': 3}}, b'')
write('bad_dup.safetensors', None, b'\0' * 8,
      header_text='{"a": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]}, '
                  '"a": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]}}')
write('bad_json.safetensors', None, b'', header_text='{"a": ')
write('bad_array.safetensors', None, b'', header_text='[1, 2]')
write('bad_noshape.safetensors', {'a': {'dtype': 'F32', 'data_offsets': [0, 4]}}, b'\0' * 4)
with open(os.path.join(out, 'bad_hdrlen.safetensors'), 'wb') as f:
    f.write(struct.pack('<Q', 1000) + b'{}' + b'\0' * 90)
with open(os.path.join(out, 'bad_hdrcap.safetensors'), 'wb') as f:
    f.write(struct.pack('<Q', 2**40) + b'{}')
with open(os.path.join(out, 'bad_tiny.safetensors'), 'wb') as f:
    f.write(b'\x02\0\0\0')

# Every float16 bit pattern next to numpy's float32 conversion of it.
halves = np.arange(65536, dtype=np.uint32).astype('<u2')
build([('half', 'F16', (65536,), halves.tobytes()),
       ('ref', 'F32', (65536,), halves.view('<f2').astype('<f4').tobytes())],
      name='all_f16.safetensors')
