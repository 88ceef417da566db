/* li_jpeg.c: JPEG decode and encode with libjpeg-turbo, hardened for hostile
 * files.
 *
 * libjpeg reports errors through error_exit, which must not return: ours
 * formats the message and longjmps back, and every pointer assigned after
 * setjmp is volatile and freed there. libjpeg's warnings are how it reports
 * corrupt or truncated data (it then pads with grey and carries on), so every
 * warning is fatal here: a half-grey patch must never reach training. A
 * progress monitor caps the number of scans, because a few kilobytes of
 * progressive JPEG can otherwise cost minutes of CPU.
 *
 * Two kinds of truncation give no warning, so they are checked here:
 *  - arithmetic-coded data: the decoder reads zeros once it meets a marker
 *    (T.81 lets an encoder drop its final zero bytes), so the first 30% of a
 *    file plus an EOI decodes "fine". How much of the zeros an intact file
 *    needs depends on its content (a white region costs almost nothing), so
 *    no count of rows or bytes tells the two apart: arithmetic-coded JPEGs
 *    are refused, with the lossless way out (jpegtran rewrites them with
 *    Huffman codes);
 *  - a progressive file cut at a scan boundary is a valid JPEG with fewer
 *    scans (a blurred image): every coefficient of every component must
 *    have been refined to full precision by the scans read. */
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jpeglib.h>

#include "li_error.h"
#include "li_jpeg.h"

typedef struct jerr {
	struct jpeg_error_mgr pub;
	jmp_buf jb;
	char msg[JMSG_LENGTH_MAX + 64];
} jerr;

typedef struct jprogress {
	struct jpeg_progress_mgr pub;
	int max_scans;
} jprogress;

static void on_error_exit(j_common_ptr c)
{
	jerr *e = (jerr *)c->err;
	c->err->format_message(c, e->msg);
	longjmp(e->jb, 1);
}

/* Level -1 is a warning: corrupt data. Trace messages (>= 0) are ignored. */
static void on_emit(j_common_ptr c, int level)
{
	if (level < 0)
		on_error_exit(c);
}

static void on_output(j_common_ptr c)
{
	(void)c;
}

static void on_progress(j_common_ptr c)
{
	if (!c->is_decompressor)
		return;
	j_decompress_ptr d = (j_decompress_ptr)c;
	jprogress *p = (jprogress *)c->progress;
	if (d->input_scan_number > p->max_scans) {
		jerr *e = (jerr *)c->err;
		snprintf(e->msg, sizeof e->msg, "more than %d scans (a progressive JPEG bomb?)",
		         p->max_scans);
		longjmp(e->jb, 1);
	}
}

static void setup_errors(j_common_ptr c, jerr *e)
{
	c->err = jpeg_std_error(&e->pub);
	e->pub.error_exit = on_error_exit;
	e->pub.emit_message = on_emit;
	e->pub.output_message = on_output;
	e->msg[0] = '\0';
}

/* After all scans of a progressive file: libjpeg's coef_bits holds, per
 * component and coefficient, -1 (never sent) or the bit position refined so
 * far; a complete image has 0 everywhere. */
static int progressive_complete(j_decompress_ptr d)
{
	for (int c = 0; c < d->num_components; c++)
		for (int k = 0; k < DCTSIZE2; k++)
			if (d->coef_bits[c][k] != 0)
				return 0;
	return 1;
}

/* PIL's CMYK -> RGB: (255-K) - C(255-K)/255, with its rounding. */
static inline uint8_t cmyk_channel(unsigned c, unsigned nk)
{
	unsigned t = c * nk + 128;
	return (uint8_t)(nk - (((t >> 8) + t) >> 8));
}

li_image *li_jpeg_decode(const uint8_t *buf, size_t len, const char *name, int channels,
                         uint64_t max_pixels, int max_scans)
{
	struct jpeg_decompress_struct cinfo;
	jerr err;
	jprogress prog = {.max_scans = max_scans};
	li_image *volatile img = NULL;
	uint8_t *volatile row = NULL;
	setup_errors((j_common_ptr)&cinfo, &err);
	if (setjmp(err.jb)) {
		li_error("cannot decode '%s': %s", name, err.msg);
		goto fail;
	}
	jpeg_create_decompress(&cinfo);
	prog.pub.progress_monitor = on_progress;
	cinfo.progress = &prog.pub;
	jpeg_mem_src(&cinfo, buf, (unsigned long)len);
	jpeg_read_header(&cinfo, TRUE);
	if (cinfo.arith_code) {
		li_error("cannot decode '%s': arithmetic-coded JPEG is not supported (truncation "
		         "cannot be detected in it; 'jpegtran -copy all' rewrites it losslessly "
		         "with Huffman codes)", name);
		goto fail;
	}
	uint64_t w = cinfo.image_width, h = cinfo.image_height;
	if (w * h > max_pixels) {
		li_image_limit_error(name, w, h, max_pixels);
		goto fail;
	}
	/* CMYK/YCCK come out as (possibly Adobe-inverted) CMYK; the rest as RGB
	 * or gray, which libjpeg produces itself. */
	int cmyk = cinfo.jpeg_color_space == JCS_CMYK || cinfo.jpeg_color_space == JCS_YCCK;
	int inverted = cmyk && cinfo.saw_Adobe_marker;
	if (cmyk)
		cinfo.out_color_space = JCS_CMYK;
	else if (cinfo.jpeg_color_space == JCS_GRAYSCALE)
		cinfo.out_color_space = JCS_GRAYSCALE;
	else
		cinfo.out_color_space = JCS_RGB;
	jpeg_start_decompress(&cinfo); /* reads every scan of a progressive file */
	if (cinfo.progressive_mode && !progressive_complete(&cinfo)) {
		li_error("cannot decode '%s': file is truncated (its progressive scans stop "
		         "before every coefficient is complete)", name);
		goto fail;
	}
	const int oc = cinfo.output_components;
	if (cinfo.output_width != w || cinfo.output_height != h || (oc != 1 && oc != 3 && oc != 4)) {
		li_error("cannot decode '%s': unexpected output layout", name);
		goto fail;
	}
	img = li_image_new((int)w, (int)h, channels);
	row = li_malloc_array(w, (size_t)oc);
	if (!img || !row) {
		li_error_prefix("cannot decode '%s'", name);
		goto fail;
	}
	while (cinfo.output_scanline < cinfo.output_height) {
		uint8_t *r = row;
		size_t y = cinfo.output_scanline;
		if (jpeg_read_scanlines(&cinfo, &r, 1) != 1) {
			li_error("cannot decode '%s': file is truncated", name);
			goto fail;
		}
		if (oc == 4) {
			/* CMYK -> RGB in place: the row is read left to right. */
			for (size_t x = 0; x < w; x++) {
				unsigned c = r[4 * x], m = r[4 * x + 1], yy = r[4 * x + 2], k = r[4 * x + 3];
				if (inverted)
					c = 255 - c, m = 255 - m, yy = 255 - yy, k = 255 - k;
				r[3 * x] = cmyk_channel(c, 255 - k);
				r[3 * x + 1] = cmyk_channel(m, 255 - k);
				r[3 * x + 2] = cmyk_channel(yy, 255 - k);
			}
		}
		li_image_convert_row(r, oc == 4 ? 3 : oc, img->data + y * w * (size_t)channels, channels, w);
	}
	jpeg_finish_decompress(&cinfo);
	jpeg_destroy_decompress(&cinfo);
	free(row);
	return img;
fail:
	jpeg_destroy_decompress(&cinfo);
	free(row);
	li_image_free(img);
	return NULL;
}

int li_jpeg_info(const uint8_t *buf, size_t len, const char *name, li_image_info *info)
{
	struct jpeg_decompress_struct cinfo;
	jerr err;
	setup_errors((j_common_ptr)&cinfo, &err);
	if (setjmp(err.jb)) {
		jpeg_destroy_decompress(&cinfo);
		return li_error("cannot decode '%s': %s", name, err.msg);
	}
	jpeg_create_decompress(&cinfo);
	jpeg_mem_src(&cinfo, buf, (unsigned long)len);
	jpeg_read_header(&cinfo, TRUE);
	info->format = LI_IMAGE_JPEG;
	info->width = (int)cinfo.image_width;
	info->height = (int)cinfo.image_height;
	info->channels = cinfo.num_components;
	info->bit_depth = cinfo.data_precision;
	jpeg_destroy_decompress(&cinfo);
	return 0;
}

int li_jpeg_encode(const li_image *img, int quality, void **out, size_t *outlen)
{
	struct jpeg_compress_struct cinfo;
	jerr err;
	/* libjpeg-turbo mallocs and grows this buffer itself; it writes the
	 * pointer through &mem, so mem lives in memory across the longjmp. */
	unsigned char *mem = NULL;
	unsigned long memlen = 0;
	setup_errors((j_common_ptr)&cinfo, &err);
	if (setjmp(err.jb)) {
		jpeg_destroy_compress(&cinfo);
		free(mem);
		return li_error("cannot encode JPEG: %s", err.msg);
	}
	jpeg_create_compress(&cinfo);
	jpeg_mem_dest(&cinfo, &mem, &memlen);
	cinfo.image_width = (JDIMENSION)img->width;
	cinfo.image_height = (JDIMENSION)img->height;
	cinfo.input_components = img->channels;
	cinfo.in_color_space = img->channels == 1 ? JCS_GRAYSCALE : JCS_RGB;
	jpeg_set_defaults(&cinfo);
	jpeg_set_quality(&cinfo, quality, TRUE);
	jpeg_start_compress(&cinfo, TRUE);
	const size_t stride = (size_t)img->width * img->channels;
	while (cinfo.next_scanline < cinfo.image_height) {
		JSAMPROW r = img->data + cinfo.next_scanline * stride;
		jpeg_write_scanlines(&cinfo, &r, 1);
	}
	jpeg_finish_compress(&cinfo);
	jpeg_destroy_compress(&cinfo);
	*out = mem;
	*outlen = memlen;
	return 0;
}

/* A JPEG-compressed tile of a TIFF, decoded the way libtiff decodes it when
 * OpenSlide reads the tile through TIFFRGBAImage (tif_jpeg.c, tif_getimage.c):
 * the JPEGTables stream read first as an abbreviated table specification,
 * then the tile's own stream with libjpeg's default decompression parameters
 * (ISLOW DCT, fancy upsampling); for YCbCr data libjpeg converts to RGB
 * (jpeg_color_space forced to YCbCr, whatever the markers say), for RGB data
 * no colour conversion at all (JCS_UNKNOWN in and out). Same library, same
 * parameters, same bytes: the same pixels. */
int li_jpeg_decode_tiff_tile(const li_jpeg_tile *t, uint8_t *out, int *hs, int *vs)
{
	struct jpeg_decompress_struct cinfo;
	jerr err;
	volatile int rc = 1;
	setup_errors((j_common_ptr)&cinfo, &err);
	if (setjmp(err.jb)) {
		jpeg_destroy_decompress(&cinfo);
		return li_error("corrupt JPEG data: %s", err.msg);
	}
	jpeg_create_decompress(&cinfo);
	if (t->tables_len) {
		jpeg_mem_src(&cinfo, t->tables, (unsigned long)t->tables_len);
		if (jpeg_read_header(&cinfo, FALSE) != JPEG_HEADER_TABLES_ONLY)
			goto done; /* libtiff refuses this: not ours to judge */
	}
	jpeg_mem_src(&cinfo, t->data, (unsigned long)t->len);
	if (jpeg_read_header(&cinfo, TRUE) != JPEG_HEADER_OK)
		goto done;
	if (cinfo.num_components != 3 || cinfo.data_precision != 8 || cinfo.progressive_mode ||
	    cinfo.arith_code)
		goto done;
	if (hs) {
		*hs = cinfo.comp_info[0].h_samp_factor;
		*vs = cinfo.comp_info[0].v_samp_factor;
	}
	if (!out) { /* the sampling factors were all that was asked */
		rc = 0;
		goto done;
	}
	if (cinfo.image_width != (JDIMENSION)t->width || cinfo.image_height != (JDIMENSION)t->height)
		goto done; /* libtiff warns and carries on: leave that to OpenSlide */
	int h0 = t->ycbcr ? t->h_samp : 1, v0 = t->ycbcr ? t->v_samp : 1;
	if (cinfo.comp_info[0].h_samp_factor != h0 || cinfo.comp_info[0].v_samp_factor != v0)
		goto done;
	for (int c = 1; c < 3; c++)
		if (cinfo.comp_info[c].h_samp_factor != 1 || cinfo.comp_info[c].v_samp_factor != 1)
			goto done;
	cinfo.jpeg_color_space = t->ycbcr ? JCS_YCbCr : JCS_UNKNOWN;
	cinfo.out_color_space = t->ycbcr ? JCS_RGB : JCS_UNKNOWN;
	jpeg_start_decompress(&cinfo);
	if (cinfo.output_components != 3 || cinfo.output_width != (JDIMENSION)t->width ||
	    cinfo.output_height != (JDIMENSION)t->height)
		goto done;
	const size_t stride = (size_t)t->width * 3;
	while (cinfo.output_scanline < cinfo.output_height) {
		JSAMPROW rows[16];
		JDIMENSION y = cinfo.output_scanline, n = cinfo.output_height - y;
		n = n < 16 ? n : 16;
		for (JDIMENSION i = 0; i < n; i++)
			rows[i] = out + (y + i) * stride;
		if (jpeg_read_scanlines(&cinfo, rows, n) == 0) {
			jpeg_destroy_decompress(&cinfo);
			return li_error("corrupt JPEG data: it stops at row %u of %u", (unsigned)y,
			                (unsigned)cinfo.output_height);
		}
	}
	jpeg_finish_decompress(&cinfo);
	rc = 0;
done:
	jpeg_destroy_decompress(&cinfo);
	return rc;
}
