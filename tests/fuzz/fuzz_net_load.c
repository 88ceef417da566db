/* fuzz_net_load: li_net_load on model files for a small network (resnet10,
 * width 1), so a valid input is about 20 KB and each run is cheap. The config is
 * given, as li-score and li-train --init give it. */
#include "fuzz.h"
#include "li_net.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *path = fuzz_file(data, size, ".safetensors");
	li_net_config cfg;
	li_net_config_default(&cfg);
	snprintf(cfg.arch, sizeof cfg.arch, "resnet10");
	cfg.width = 1;
	cfg.classes = 2 + (size & 1); /* odd sizes exercise the fc reset */
	li_error_clear();
	bool reset;
	li_model_meta meta;
	li_net *net = li_net_load(path, &cfg, 1, &reset, &meta); /* the metadata parsed too */
	if (!net) {
		FUZZ_FAILED("li_net_load");
		li_model_meta_free(&meta);
		return 0;
	}
	li_model_meta_free(&meta);
	li_net_free(net);
	return 0;
}
