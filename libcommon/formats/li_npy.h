/* li_npy.h: NumPy .npy arrays (li-formats(5) "Tensors").
 *
 * Reads versions 1.0, 2.0 and 3.0, writes 1.0 (2.0 only if a header ever
 * needs more than 64 KiB). dtypes: float32 '<f4', int32 '<i4', uint8 '|u1';
 * big-endian and other dtypes, Fortran order and structured arrays are
 * refused with a message naming them. The header dict is parsed as the Python
 * literal it is (any key order, spaces, trailing commas, "(5,)" and "()").
 * The data may start at any offset (numpy's own files are not always
 * 64-aligned); shape * itemsize (and the product of the non-zero dimensions,
 * so no row size can wrap) is checked against the file size with
 * overflow-safe arithmetic, and the file must end where the data ends.
 * Errors name the file: "'x.npy': data is 400 bytes, shape (10, 20) float32
 * needs 800". "-" is stdin for li_npy_read and stdout for the writers. */
#ifndef LI_NPY_H
#define LI_NPY_H
#include <stddef.h>
#include <stdio.h>

#define LI_NPY_MAX_DIMS 8
#define LI_NPY_UNKNOWN ((size_t)-1) /* row count not known in advance */

typedef enum li_npy_dtype { LI_NPY_F32, LI_NPY_I32, LI_NPY_U8, LI_NPY_DTYPE_COUNT } li_npy_dtype;

/* A whole array in memory (data 64-byte aligned, numel * itemsize bytes). */
typedef struct li_npy {
	char *path;
	li_npy_dtype dtype;
	int ndim;
	size_t shape[LI_NPY_MAX_DIMS];
	size_t numel;
	void *data;
} li_npy;

li_npy *li_npy_read(const char *path);
void li_npy_free(li_npy *a);
/* Check dtype and ndim (ndim < 0: any): "'f.npy': expected a 2-d float32
 * array, got shape (10,) int32". */
int li_npy_expect(const li_npy *a, li_npy_dtype dtype, int ndim);

/* Write a whole array atomically (li_atomic); "-" is stdout. 0 or -1. */
int li_npy_write(const char *path, li_npy_dtype dtype, int ndim, const size_t *shape,
		 const void *data);

/* Blocked reader for arrays larger than memory: rows are along axis 0, a row
 * is the product of the other dimensions (1 for a 0-d or 1-d array). Needs a
 * regular file (it reads with pread). */
typedef struct li_npy_reader li_npy_reader;
li_npy_reader *li_npy_open(const char *path);
void li_npy_close(li_npy_reader *r);
li_npy_dtype li_npy_reader_dtype(const li_npy_reader *r);
int li_npy_reader_ndim(const li_npy_reader *r);
size_t li_npy_reader_rows(const li_npy_reader *r);
size_t li_npy_reader_row_size(const li_npy_reader *r); /* elements per row */
/* Copy rows [start, start + count) into out (count * row_size elements). */
int li_npy_read_rows(li_npy_reader *r, size_t start, size_t count, void *out);

/* Streaming writer of an (N, cols) array. With rows known it writes the
 * header first and streams the data, so "-" (a pipe) works; with rows ==
 * LI_NPY_UNKNOWN the output must be a file: the header is padded for any N
 * and rewritten at close. Atomic: nothing appears at path until close
 * succeeds; close checks that exactly `rows` rows were written (when known). */
typedef struct li_npy_writer li_npy_writer;
li_npy_writer *li_npy_writer_open(const char *path, li_npy_dtype dtype, size_t rows, size_t cols);
int li_npy_writer_put(li_npy_writer *w, const void *data, size_t nrows);
/* Commit and free; 0 or -1 (the output is removed on failure). */
int li_npy_writer_close(li_npy_writer *w);
/* Discard the output and free (safe with NULL). */
void li_npy_writer_abort(li_npy_writer *w);
#endif
