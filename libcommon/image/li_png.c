/* li_png.c: PNG decode and encode with libpng, hardened for hostile files.
 *
 * libpng reports errors by longjmp: every pointer assigned after setjmp is
 * volatile and freed on the error path. Only the chunks that change pixels
 * (IHDR, PLTE, tRNS, IDAT, IEND) are processed; every other chunk is skipped
 * as it streams past, so a chunk that claims to be 2 GiB long costs nothing
 * but a "truncated" error. CRC errors in any chunk are errors. */
#include <png.h>
#include <zlib.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "li_error.h"
#include "li_png.h"

typedef struct png_io {
	const uint8_t *buf; /* reading */
	size_t len, pos;
	uint8_t *out;       /* writing */
	size_t outlen, outcap;
	char msg[256];
} png_io;

static void on_error(png_structp png, png_const_charp msg)
{
	png_io *io = png_get_error_ptr(png);
	snprintf(io->msg, sizeof io->msg, "%s", msg);
	png_longjmp(png, 1);
}

/* Warnings (benign problems such as an unknown sRGB profile) are dropped: a
 * library must not print, and anything that affects pixels is an error. */
static void on_warning(png_structp png, png_const_charp msg)
{
	(void)png;
	(void)msg;
}

static void read_cb(png_structp png, png_bytep out, size_t n)
{
	png_io *io = png_get_io_ptr(png);
	if (n > io->len - io->pos)
		png_error(png, "file is truncated");
	memcpy(out, io->buf + io->pos, n);
	io->pos += n;
}

/* Limits and chunk handling shared by decode and info. */
static void harden(png_structp png)
{
	/* Negative count: every chunk except IHDR, PLTE, tRNS, IDAT and IEND. */
	png_set_keep_unknown_chunks(png, PNG_HANDLE_CHUNK_NEVER, NULL, -1);
	png_set_chunk_cache_max(png, 16);
	png_set_chunk_malloc_max(png, 1 << 20);
	/* Our pixel limit decides, with one message, not libpng's 1e6 per side. */
	png_set_user_limits(png, 0x7fffffff, 0x7fffffff);
	png_set_crc_action(png, PNG_CRC_ERROR_QUIT, PNG_CRC_ERROR_QUIT);
	/* libpng downgrades some corruption (palette indexes past the palette,
	 * extra image data) to "benign" warnings; for training data it is not. */
	png_set_benign_errors(png, 0);
}

/* Indexes -> RGBA through PLTE and tRNS, then into img; -1 with io->msg
 * set when an index is past the end of the palette. */
static int expand_palette(png_structp png, png_infop info, png_bytep *rows, uint32_t w, uint32_t h,
                          li_image *img)
{
	png_io *io = png_get_error_ptr(png);
	png_colorp plte = NULL;
	int nplte = 0, ntrns = 0;
	png_bytep trns = NULL;
	png_get_PLTE(png, info, &plte, &nplte);
	if (png_get_valid(png, info, PNG_INFO_tRNS))
		png_get_tRNS(png, info, &trns, &ntrns, NULL);
	uint8_t rgba[256][4];
	for (int i = 0; i < 256; i++) {
		rgba[i][0] = i < nplte ? plte[i].red : 0;
		rgba[i][1] = i < nplte ? plte[i].green : 0;
		rgba[i][2] = i < nplte ? plte[i].blue : 0;
		rgba[i][3] = trns && i < ntrns ? trns[i] : 255;
	}
	uint8_t px[4 * 64];
	for (uint32_t y = 0; y < h; y++) {
		uint8_t *out = img->data + (size_t)y * w * img->channels;
		for (uint32_t x0 = 0; x0 < w; x0 += 64) {
			uint32_t n = w - x0 < 64 ? w - x0 : 64;
			for (uint32_t i = 0; i < n; i++) {
				int idx = rows[y][x0 + i];
				if (idx >= nplte) {
					snprintf(io->msg, sizeof io->msg,
					         "palette index %d at (%u, %u) is past the %d-colour palette", idx,
					         x0 + i, y, nplte);
					return -1;
				}
				memcpy(px + 4 * i, rgba[idx], 4);
			}
			li_image_convert_row(px, 4, out + (size_t)x0 * img->channels, img->channels, n);
		}
	}
	return 0;
}

li_image *li_png_decode(const uint8_t *buf, size_t len, const char *name, int channels,
                        uint64_t max_pixels)
{
	png_io io = {.buf = buf, .len = len};
	png_structp png = png_create_read_struct(PNG_LIBPNG_VER_STRING, &io, on_error, on_warning);
	png_infop info = png ? png_create_info_struct(png) : NULL;
	if (!info) {
		png_destroy_read_struct(&png, NULL, NULL);
		li_error("cannot decode '%s': out of memory", name);
		return NULL;
	}
	li_image *volatile img = NULL;
	uint8_t *volatile raw = NULL;
	png_bytep *volatile rows = NULL;
	if (setjmp(png_jmpbuf(png))) {
		li_error("cannot decode '%s': %s", name, io.msg);
		goto fail;
	}
	harden(png);
	png_set_read_fn(png, &io, read_cb);
	png_read_info(png, info);
	uint32_t w = png_get_image_width(png, info), h = png_get_image_height(png, info);
	if ((uint64_t)w * h > max_pixels) {
		li_image_limit_error(name, w, h, max_pixels);
		goto fail;
	}
	/* Palette images are read as one index per byte and expanded here:
	 * libpng maps an index past the palette to black without a word (it
	 * checks only below 8 bits), and that is a corrupt file. */
	const int palette = png_get_color_type(png, info) == PNG_COLOR_TYPE_PALETTE;
	if (palette)
		png_set_packing(png);
	else
		png_set_expand(png); /* gray < 8 bits -> 8, tRNS -> alpha */
	png_set_strip_16(png);   /* high byte, as PIL (see li_image.h) */
	png_set_interlace_handling(png);
	png_read_update_info(png, info);
	int sc = png_get_channels(png, info);
	size_t rowbytes = png_get_rowbytes(png, info);
	if (png_get_bit_depth(png, info) != 8 || sc < 1 || sc > 4 || rowbytes != (size_t)w * sc) {
		li_error("cannot decode '%s': unexpected row layout", name);
		goto fail;
	}
	img = li_image_new((int)w, (int)h, channels);
	rows = li_malloc_array(h, sizeof *rows);
	if (!img || !rows) {
		li_error_prefix("cannot decode '%s'", name);
		goto fail;
	}
	/* Decode straight into the image when no conversion is needed. */
	uint8_t *base = img->data;
	if (sc != channels || palette) {
		raw = li_malloc_array(h, rowbytes);
		if (!raw) {
			li_error_prefix("cannot decode '%s'", name);
			goto fail;
		}
		base = raw;
	}
	for (uint32_t y = 0; y < h; y++)
		rows[y] = base + (size_t)y * rowbytes;
	png_read_image(png, rows);
	/* Reading to IEND catches truncation and bad CRCs after the last row. */
	png_read_end(png, NULL);
	if (palette) {
		if (expand_palette(png, info, rows, w, h, img) < 0) {
			li_error("cannot decode '%s': %s", name, io.msg);
			goto fail;
		}
	} else if (raw) {
		for (uint32_t y = 0; y < h; y++)
			li_image_convert_row(rows[y], sc, img->data + (size_t)y * w * channels, channels, w);
	}
	free(raw);
	free(rows);
	png_destroy_read_struct(&png, &info, NULL);
	return img;
fail:
	free(raw);
	free(rows);
	li_image_free(img);
	png_destroy_read_struct(&png, &info, NULL);
	return NULL;
}

int li_png_info(const uint8_t *buf, size_t len, const char *name, li_image_info *out)
{
	png_io io = {.buf = buf, .len = len};
	png_structp png = png_create_read_struct(PNG_LIBPNG_VER_STRING, &io, on_error, on_warning);
	png_infop info = png ? png_create_info_struct(png) : NULL;
	if (!info) {
		png_destroy_read_struct(&png, NULL, NULL);
		return li_error("cannot decode '%s': out of memory", name);
	}
	if (setjmp(png_jmpbuf(png))) {
		png_destroy_read_struct(&png, &info, NULL);
		return li_error("cannot decode '%s': %s", name, io.msg);
	}
	harden(png);
	png_set_read_fn(png, &io, read_cb);
	png_read_info(png, info);
	out->format = LI_IMAGE_PNG;
	out->width = (int)png_get_image_width(png, info);
	out->height = (int)png_get_image_height(png, info);
	out->bit_depth = png_get_bit_depth(png, info);
	switch (png_get_color_type(png, info)) {
	case PNG_COLOR_TYPE_GRAY: out->channels = 1; break;
	case PNG_COLOR_TYPE_GRAY_ALPHA: out->channels = 2; break;
	case PNG_COLOR_TYPE_PALETTE:
		out->channels = png_get_valid(png, info, PNG_INFO_tRNS) ? 4 : 3;
		break;
	case PNG_COLOR_TYPE_RGB: out->channels = 3; break;
	default: out->channels = 4; break;
	}
	png_destroy_read_struct(&png, &info, NULL);
	return 0;
}

static void write_cb(png_structp png, png_bytep data, size_t n)
{
	png_io *io = png_get_io_ptr(png);
	if (n > io->outcap - io->outlen) {
		size_t cap = io->outcap ? io->outcap : 1 << 16;
		while (n > cap - io->outlen) {
			if (cap > SIZE_MAX / 2)
				png_error(png, "output too large");
			cap *= 2;
		}
		uint8_t *p = realloc(io->out, cap);
		if (!p)
			png_error(png, "out of memory");
		io->out = p;
		io->outcap = cap;
	}
	memcpy(io->out + io->outlen, data, n);
	io->outlen += n;
}

static void flush_cb(png_structp png)
{
	(void)png;
}

int li_png_encode(const li_image *img, int level, int fast, void **out, size_t *outlen)
{
	png_io io = {0};
	png_structp png = png_create_write_struct(PNG_LIBPNG_VER_STRING, &io, on_error, on_warning);
	png_infop info = png ? png_create_info_struct(png) : NULL;
	if (!info) {
		png_destroy_write_struct(&png, NULL);
		return li_error("cannot encode PNG: out of memory");
	}
	png_bytep *volatile rows = NULL;
	if (setjmp(png_jmpbuf(png))) {
		free(rows);
		free(io.out);
		png_destroy_write_struct(&png, &info);
		return li_error("cannot encode PNG: %s", io.msg);
	}
	png_set_write_fn(png, &io, write_cb, flush_cb);
	png_set_compression_level(png, level);
	if (fast) {
		/* see li_image_wopts.png_fast; level 0 stores, where a filter is wasted */
		png_set_compression_strategy(png, Z_RLE);
		png_set_filter(png, PNG_FILTER_TYPE_BASE, level ? PNG_FILTER_PAETH : PNG_FILTER_NONE);
	}
	png_set_IHDR(png, info, (png_uint_32)img->width, (png_uint_32)img->height, 8,
	             img->channels == 1 ? PNG_COLOR_TYPE_GRAY : PNG_COLOR_TYPE_RGB,
	             PNG_INTERLACE_NONE, PNG_COMPRESSION_TYPE_DEFAULT, PNG_FILTER_TYPE_DEFAULT);
	rows = li_malloc_array((size_t)img->height, sizeof *rows);
	if (!rows)
		png_error(png, "out of memory");
	for (int y = 0; y < img->height; y++)
		rows[y] = img->data + (size_t)y * img->width * img->channels;
	png_set_rows(png, info, rows);
	png_write_png(png, info, PNG_TRANSFORM_IDENTITY, NULL);
	free(rows);
	png_destroy_write_struct(&png, &info);
	*out = io.out;
	*outlen = io.outlen;
	return 0;
}
