/* fuzz_npy: the .npy reader, whole (li_npy_read) and blocked (li_npy_open). */
#include "fuzz.h"
#include "li_npy.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *path = fuzz_file(data, size, ".npy");
	li_error_clear();
	li_npy *a = li_npy_read(path);
	if (a) {
		if (li_npy_expect(a, LI_NPY_F32, 2) < 0)
			FUZZ_FAILED("li_npy_expect");
		li_npy_free(a);
	} else {
		FUZZ_FAILED("li_npy_read");
	}
	li_npy_reader *r = li_npy_open(path);
	if (!r) {
		FUZZ_FAILED("li_npy_open");
		return 0;
	}
	size_t rows = li_npy_reader_rows(r), rs = li_npy_reader_row_size(r);
	size_t es = li_npy_reader_dtype(r) == LI_NPY_U8 ? 1 : 4; /* bytes an element */
	size_t n = rows < 4 ? rows : 4;
	/* The data is in the file, so n rows fit in its size. */
	if (n && rs && rs * es <= size) {
		void *buf = malloc(n * rs * es);
		if (li_npy_read_rows(r, 0, n, buf) < 0)
			FUZZ_FAILED("li_npy_read_rows");
		if (li_npy_read_rows(r, rows, 1, buf) == 0)
			abort(); /* past the end must fail */
		FUZZ_FAILED("li_npy_read_rows past the end");
		free(buf);
	}
	li_npy_close(r);
	return 0;
}
