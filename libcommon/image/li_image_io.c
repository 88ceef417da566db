/* li_image_io.c: format sniffing and file I/O over the PNG and JPEG codecs
 * (li_png.c, li_jpeg.c): read, decode, read the header only, encode, write. */
#include "li_image_io.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "li_atomic.h"
#include "li_error.h"
#include "li_jpeg.h"
#include "li_png.h"

li_image_format li_image_sniff(const void *buf, size_t len)
{
	static const uint8_t png_sig[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};
	const uint8_t *b = buf;
	if (len >= 8 && memcmp(b, png_sig, 8) == 0)
		return LI_IMAGE_PNG;
	/* SOI then the first byte of any marker: enough to hand it to libjpeg. */
	if (len >= 3 && b[0] == 0xff && b[1] == 0xd8 && b[2] == 0xff)
		return LI_IMAGE_JPEG;
	return LI_IMAGE_UNKNOWN;
}

const char *li_image_format_name(li_image_format f)
{
	switch (f) {
	case LI_IMAGE_PNG: return "png";
	case LI_IMAGE_JPEG: return "jpeg";
	default: return "unknown";
	}
}

li_image_format li_image_format_for_path(const char *path)
{
	const char *dot = strrchr(path, '.');
	if (!dot || strchr(dot, '/'))
		return LI_IMAGE_UNKNOWN;
	if (strcasecmp(dot, ".png") == 0)
		return LI_IMAGE_PNG;
	if (strcasecmp(dot, ".jpg") == 0 || strcasecmp(dot, ".jpeg") == 0)
		return LI_IMAGE_JPEG;
	return LI_IMAGE_UNKNOWN;
}

/* The whole of a file (or stdin for "-") in memory. */
static int read_file(const char *path, uint8_t **out, size_t *outlen)
{
	FILE *fp = strcmp(path, "-") == 0 ? stdin : fopen(path, "rb");
	if (!fp)
		return li_error("cannot read '%s': %s", path, strerror(errno));
	size_t cap = 1 << 16, len = 0;
	uint8_t *buf = li_malloc(cap);
	if (!buf)
		goto fail;
	for (;;) {
		if (len == cap) {
			uint8_t *nb = cap > SIZE_MAX / 2 ? NULL : li_realloc_array(buf, cap * 2, 1);
			if (!nb)
				goto fail;
			buf = nb;
			cap *= 2;
		}
		size_t n = fread(buf + len, 1, cap - len, fp);
		len += n;
		if (n == 0)
			break;
	}
	if (ferror(fp)) {
		li_error("cannot read '%s': %s", path, strerror(errno ? errno : EIO));
		goto fail;
	}
	if (fp != stdin)
		fclose(fp);
	*out = buf;
	*outlen = len;
	return 0;
fail:
	free(buf);
	if (fp != stdin)
		fclose(fp);
	return -1;
}

li_image *li_image_decode(const void *buf, size_t len, const char *name, const li_image_opts *opts)
{
	int channels = opts && opts->channels ? opts->channels : 3;
	if (channels != 1 && channels != 3) {
		li_error("cannot decode '%s': %d output channels asked for (1 or 3)", name, channels);
		return NULL;
	}
	uint64_t max_pixels = li_image_max_pixels(opts);
	int max_scans = opts && opts->max_scans > 0 ? opts->max_scans : LI_IMAGE_DEFAULT_MAX_SCANS;
	switch (li_image_sniff(buf, len)) {
	case LI_IMAGE_PNG:
		return li_png_decode(buf, len, name, channels, max_pixels);
	case LI_IMAGE_JPEG:
		return li_jpeg_decode(buf, len, name, channels, max_pixels, max_scans);
	default:
		li_error(len ? "cannot decode '%s': not a PNG or JPEG file" : "cannot decode '%s': empty file",
		         name);
		return NULL;
	}
}

li_image *li_image_read(const char *path, const li_image_opts *opts)
{
	uint8_t *buf;
	size_t len;
	if (read_file(path, &buf, &len) < 0)
		return NULL;
	li_image *img = li_image_decode(buf, len, path, opts);
	free(buf);
	return img;
}

int li_image_decode_info(const void *buf, size_t len, const char *name, li_image_info *info)
{
	memset(info, 0, sizeof *info);
	switch (li_image_sniff(buf, len)) {
	case LI_IMAGE_PNG:
		return li_png_info(buf, len, name, info);
	case LI_IMAGE_JPEG:
		return li_jpeg_info(buf, len, name, info);
	default:
		return li_error(len ? "cannot decode '%s': not a PNG or JPEG file"
		                    : "cannot decode '%s': empty file", name);
	}
}

int li_image_read_info(const char *path, li_image_info *info)
{
	uint8_t *buf;
	size_t len;
	if (read_file(path, &buf, &len) < 0)
		return -1;
	int rc = li_image_decode_info(buf, len, path, info);
	free(buf);
	return rc;
}

int li_image_encode(const li_image *img, li_image_format fmt, const li_image_wopts *wopts,
                    void **buf, size_t *len)
{
	const li_image_wopts def = LI_IMAGE_WOPTS_DEFAULT;
	if (!wopts)
		wopts = &def;
	if (li_image_check(img) < 0)
		return -1;
	switch (fmt) {
	case LI_IMAGE_PNG:
		if (wopts->png_level < 0 || wopts->png_level > 9)
			return li_error("PNG compression level %d is not in 0-9", wopts->png_level);
		return li_png_encode(img, wopts->png_level, wopts->png_fast, buf, len);
	case LI_IMAGE_JPEG:
		if (wopts->jpeg_quality < 1 || wopts->jpeg_quality > 100)
			return li_error("JPEG quality %d is not in 1-100", wopts->jpeg_quality);
		return li_jpeg_encode(img, wopts->jpeg_quality, buf, len);
	default:
		return li_error("cannot encode: unknown image format");
	}
}

int li_image_write(const li_image *img, const char *path, const li_image_wopts *wopts)
{
	li_image_format fmt = li_image_format_for_path(path);
	if (fmt == LI_IMAGE_UNKNOWN)
		return li_error("cannot write '%s': unknown image type (use .png, .jpg or .jpeg)", path);
	void *buf;
	size_t len;
	if (li_image_encode(img, fmt, wopts, &buf, &len) < 0)
		return li_error_prefix("cannot write '%s'", path);
	li_atomic a;
	FILE *fp = li_atomic_open(&a, path);
	if (!fp) {
		free(buf);
		return -1;
	}
	if (fwrite(buf, 1, len, fp) != len) {
		int e = errno;
		free(buf);
		li_atomic_abort(&a);
		return li_error("cannot write '%s': %s", path, strerror(e ? e : EIO));
	}
	free(buf);
	return li_atomic_commit(&a);
}
