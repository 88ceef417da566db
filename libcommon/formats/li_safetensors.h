/* li_safetensors.h: read and write safetensors files.
 *
 * Format (huggingface safetensors spec): 8-byte little-endian header length N,
 * N bytes of UTF-8 JSON {"name": {"dtype": "F32", "shape": [..],
 * "data_offsets": [begin, end]}, ..., "__metadata__": {"k": "v"}}, then the
 * data section. The reader checks everything the spec promises: header size
 * capped (LI_ST_MAX_HEADER), valid JSON (jansson, duplicate keys refused),
 * known dtypes, shape * itemsize == end - begin with overflow-safe arithmetic,
 * offsets in bounds, no overlap, no holes, and the file ending where the data
 * ends. Every error names the file (and the tensor when there is one). */
#ifndef LI_SAFETENSORS_H
#define LI_SAFETENSORS_H
#include <stddef.h>
#include <stdint.h>

#define LI_ST_MAX_HEADER (100u << 20) /* 100 MB, as the reference implementation */
#define LI_ST_MAX_DIMS 8

typedef enum li_dtype {
	LI_DT_F32,
	LI_DT_F16,
	LI_DT_BF16,
	LI_DT_F64,
	LI_DT_I64,
	LI_DT_I32,
	LI_DT_I16,
	LI_DT_I8,
	LI_DT_U8,
	LI_DT_BOOL,
	LI_DT_COUNT
} li_dtype;

/* "F32", "F16", ...; and the reverse (-1 when unknown). */
const char *li_dtype_name(li_dtype t);
int li_dtype_from_name(const char *name);
size_t li_dtype_size(li_dtype t);

typedef struct li_st_info {
	const char *name;
	li_dtype dtype;
	int ndim;
	int64_t shape[LI_ST_MAX_DIMS];
	size_t numel;
	size_t offset; /* into the data section */
	size_t nbytes;
} li_st_info;

typedef struct li_st li_st;

/* Open and validate a file (header checked, data read into memory). */
li_st *li_st_open(const char *path);
void li_st_close(li_st *st);
const char *li_st_path(const li_st *st);
int li_st_count(const li_st *st);
const li_st_info *li_st_at(const li_st *st, int i);
/* NULL when absent (no error recorded). */
const li_st_info *li_st_find(const li_st *st, const char *name);
const void *li_st_data(const li_st *st, const li_st_info *t);
/* __metadata__: NULL when the key is absent. */
const char *li_st_meta(const li_st *st, const char *key);
int li_st_meta_count(const li_st *st);

/* Copy tensor `name` into out as float32, converting F16/BF16/F64 (and
 * integer types exactly representable). When shape is not NULL the tensor's
 * shape must equal it. Errors: "'<file>': tensor '<name>' is missing",
 * "... has shape [2, 3], expected [4, 3]", "... has dtype BOOL, expected a float". */
int li_st_read_f32(const li_st *st, const char *name, int ndim, const int64_t *shape, float *out);
/* The same for an integer tensor (I64/I32/I16/I8/U8), e.g. num_batches_tracked. */
int li_st_read_i64(const li_st *st, const char *name, int ndim, const int64_t *shape, int64_t *out);

/* Half and bfloat16 bit patterns to float32 (exact, with subnormals, inf, nan). */
float li_f16_to_f32(uint16_t h);
float li_bf16_to_f32(uint16_t h);

/* Writer: tensors are written in the order added; data is not copied and must
 * stay valid until li_st_writer_save. Saving is atomic (temp file, fsync, rename). */
typedef struct li_st_writer li_st_writer;
li_st_writer *li_st_writer_new(void);
int li_st_writer_add(li_st_writer *w, const char *name, li_dtype dtype, int ndim,
		     const int64_t *shape, const void *data);
int li_st_writer_meta(li_st_writer *w, const char *key, const char *value);
int li_st_writer_save(li_st_writer *w, const char *path);
void li_st_writer_free(li_st_writer *w);
#endif
