#!/usr/bin/python3
"""torch_bench.py: the PyTorch side of the ResNet18 speed benchmark.

One measurement per process (bench/run starts a fresh one each time, so
allocator state and peak RSS belong to that measurement alone):

    /usr/bin/python3 bench/torch_bench.py --mode train            # train_img_s
    /usr/bin/python3 bench/torch_bench.py --mode infer --batch 32 # infer32_img_s
    /usr/bin/python3 bench/torch_bench.py --mode infer --batch 1  # infer1_img_s

The work is what li-train and li-score do per batch: torchvision resnet18,
2 classes, 224x224, random inputs; training is forward, cross-entropy,
backward, Adam step; inference is eval mode under torch.no_grad(). Output is
"key value" lines (see bench/README.md): <mode><batch>_img_s, peak_rss_mb
(ru_maxrss of this process), and informational lines starting with '#'.
"""
import argparse
import resource
import sys
import time

import torch
import torch.nn.functional as F
import torchvision


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--mode", choices=["train", "infer"], required=True)
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--size", type=int, default=224)
    ap.add_argument("--classes", type=int, default=2)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--warmup", type=int, default=2, help="untimed iterations first")
    ap.add_argument("--min-iters", type=int, default=3)
    ap.add_argument("--bf16", action="store_true",
                    help="under torch.autocast('cpu', dtype=torch.bfloat16)")
    ap.add_argument("--seconds", type=float, default=8.0, help="time at least this long")
    a = ap.parse_args()

    torch.manual_seed(0)
    torch.set_num_threads(a.threads)
    model = torchvision.models.resnet18(num_classes=a.classes)
    x = torch.randn(a.batch, 3, a.size, a.size)
    y = torch.randint(0, a.classes, (a.batch,))

    if a.mode == "train":
        model.train()
        opt = torch.optim.Adam(model.parameters(), lr=1e-3)

        def step():
            opt.zero_grad()
            # bf16: mixed precision as PyTorch documents it for the CPU (fp32
            # master weights; bf16 needs no loss scaling)
            with torch.autocast("cpu", dtype=torch.bfloat16, enabled=a.bf16):
                loss = F.cross_entropy(model(x), y)
            loss.backward()
            opt.step()
    else:
        model.eval()

        def step():
            with torch.no_grad():
                if a.bf16:
                    with torch.autocast("cpu", dtype=torch.bfloat16):
                        model(x)
                else:
                    model(x)

    for _ in range(a.warmup):
        step()
    iters, t0 = 0, time.perf_counter()
    while iters < a.min_iters or time.perf_counter() - t0 < a.seconds:
        step()
        iters += 1
    dt = time.perf_counter() - t0

    key = "train" if a.mode == "train" else f"infer{a.batch}"
    if a.bf16:
        key += "_bf16"
    print(f"# torch {torch.__version__}, threads {torch.get_num_threads()}, mkldnn "
          f"{torch.backends.mkldnn.enabled}, {iters} iterations of batch {a.batch} in {dt:.2f} s")
    print(f"{key}_img_s {iters * a.batch / dt:.2f}")
    print(f"peak_rss_mb {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
