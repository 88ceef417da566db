/* fuzz_safetensors: the safetensors reader and its typed accessors. */
#include <string.h>

#include "fuzz.h"
#include "li_safetensors.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *path = fuzz_file(data, size, ".safetensors");
	li_error_clear();
	li_st *st = li_st_open(path);
	if (!st) {
		FUZZ_FAILED("li_st_open");
		return 0;
	}
	for (int i = 0; i < li_st_count(st); i++) {
		const li_st_info *t = li_st_at(st, i);
		if (li_st_find(st, t->name) != t)
			abort();
		if (t->numel > (1u << 20))
			continue;
		void *buf = malloc(t->numel ? t->numel * 8 : 1);
		if (li_st_read_f32(st, t->name, t->ndim, t->shape, buf) < 0)
			FUZZ_FAILED("li_st_read_f32");
		if (li_st_read_i64(st, t->name, t->ndim, t->shape, buf) < 0)
			FUZZ_FAILED("li_st_read_i64");
		int64_t other[1] = {t->shape[0] + 1};
		if (t->ndim == 1 && li_st_read_f32(st, t->name, 1, other, buf) == 0)
			abort(); /* a wrong shape must be refused */
		li_error_clear();
		free(buf);
	}
	/* the metadata keys a model has: absent or a string, never a crash */
	static const char *const keys[] = {"arch", "classes", "input_size", "mean", "command", ""};
	for (size_t i = 0; i < sizeof keys / sizeof *keys; i++) {
		const char *v = li_st_meta(st, keys[i]);
		if (v && strlen(v) > size)
			abort(); /* a value longer than the file */
	}
	if (li_st_meta_count(st) < 0)
		abort();
	li_st_close(st);
	return 0;
}
