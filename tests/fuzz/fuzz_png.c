/* fuzz_png: PNG decoding (li_image_decode, li_image_decode_info). */
#include "fuzz_image.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) { return fuzz_image(data, size); }
