#!/usr/bin/python3
"""e2e_torch.py: the PyTorch side of bench/run-e2e, written as a typical user
would write it: a Dataset that opens each PNG with PIL, torchvision
transforms (ToTensor, Normalize with ImageNet statistics), a DataLoader with
worker processes, torchvision's resnet18(num_classes=2).

  e2e_torch.py train LIST [--augment basic|none] [--batch 32] [--workers 2]
                          [--threads 2] [--warmup 3] [--seed 1]
      One epoch of Adam (lr 1e-4) with cross-entropy; as many samples as the
      list has rows, drawn by WeightedRandomSampler with weights 1/(rows of
      the class) and replacement (li-train's default balancing); --augment
      basic is one of the 8 flips and quarter turns per sample (li-train's
      `basic`). A final batch of one image is skipped, as li-train does.
      Prints train_img_s (the whole epoch, from starting the DataLoader's
      iterator to the last optimizer step: what li-train's log reports),
      train_warm_img_s (after --warmup batches), train_seconds.

  e2e_torch.py score LIST [--out FILE] [--batch 32] [--workers 2] [--threads 2]
      Eval mode, torch.no_grad(), every row in order; writes the list with
      prob (softmax P(class 1)) and pred (prob >= 0.5) appended to --out
      (default /dev/null), as li-score does. Prints score_img_s and
      score_seconds (iterator start to the last row written).

  Both also print peak_rss_mb (ru_maxrss of this process plus ru_maxrss of
  its largest reaped child, the DataLoader workers: getrusage) and
  peak_pss_mb (the largest sum of Pss over this process and its live
  workers, sampled every 0.25 s from /proc/PID/smaps_rollup: shared pages
  counted once, which RSS sums would not do).

  e2e_torch.py time OUT [--] CMD...
      Runs CMD and writes "WALL_S MAXRSS_KB" to OUT, like
      /usr/bin/time -f "%e %M" -o OUT (the runner's fallback when GNU time
      is not installed). Exits with CMD's status.

Output is `key value` lines on stdout (see bench/README-e2e.md).
"""
import argparse
import os
import resource
import subprocess
import sys
import threading
import time


def pss_kb(pid):
    try:
        with open(f"/proc/{pid}/smaps_rollup") as f:
            for line in f:
                if line.startswith("Pss:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


class PssSampler:
    """Peak of the summed Pss of this process and its multiprocessing children."""

    def __init__(self, interval=0.25):
        self.peak_kb, self.interval = 0, interval
        self._stop = threading.Event()
        self._t = threading.Thread(target=self._run, daemon=True)

    def _sample(self):
        import multiprocessing
        total = pss_kb(os.getpid()) + sum(pss_kb(p.pid) for p in multiprocessing.active_children())
        self.peak_kb = max(self.peak_kb, total)

    def _run(self):
        while not self._stop.wait(self.interval):
            self._sample()

    def __enter__(self):
        self._t.start()
        return self

    def __exit__(self, *exc):
        self._sample()
        self._stop.set()
        self._t.join()


def print_memory(pss):
    kb = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss +
          resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)
    print(f"peak_rss_mb {kb / 1024:.1f}")
    print(f"peak_pss_mb {pss.peak_kb / 1024:.1f}")


def read_list(path):
    """(header fields, rows as field lists, path column, label column or -1)."""
    with open(path) as f:
        lines = [l.rstrip("\n") for l in f if l.strip()]
    head = lines[0].split("\t")
    if "path" not in head:
        sys.exit(f"e2e_torch.py: '{path}' has no path column")
    return head, [l.split("\t") for l in lines[1:]], head.index("path"), \
        head.index("label") if "label" in head else -1


def make_dataset(paths, labels, augment, seed):
    import torch
    from PIL import Image
    from torchvision import transforms

    # the 8 dihedral transforms; index 0 is the identity
    ops = [None, Image.Transpose.FLIP_LEFT_RIGHT, Image.Transpose.FLIP_TOP_BOTTOM,
           Image.Transpose.ROTATE_90, Image.Transpose.ROTATE_180, Image.Transpose.ROTATE_270,
           Image.Transpose.TRANSPOSE, Image.Transpose.TRANSVERSE]
    tf = transforms.Compose([transforms.ToTensor(),
                             transforms.Normalize([0.485, 0.456, 0.406], [0.229, 0.224, 0.225])])

    class Patches(torch.utils.data.Dataset):
        def __len__(self):
            return len(paths)

        def __getitem__(self, i):
            img = Image.open(paths[i]).convert("RGB")
            if augment == "basic":
                op = ops[int(torch.randint(8, (1,)))]   # torch's RNG: seeded per worker
                if op is not None:
                    img = img.transpose(op)
            return tf(img), labels[i]

    return Patches()


def train(a):
    import torch
    import torchvision
    torch.set_num_threads(a.threads)
    torch.manual_seed(a.seed)
    _, rows, pc, lc = read_list(a.list)
    if lc < 0:
        sys.exit(f"e2e_torch.py: '{a.list}' has no label column")
    paths = [r[pc] for r in rows]
    labels = [int(r[lc]) for r in rows]
    count = [labels.count(0), labels.count(1)]
    weights = [1.0 / count[y] for y in labels]
    sampler = torch.utils.data.WeightedRandomSampler(weights, num_samples=len(rows), replacement=True)
    loader = torch.utils.data.DataLoader(make_dataset(paths, labels, a.augment, a.seed),
                                         batch_size=a.batch, sampler=sampler,
                                         num_workers=a.workers)
    model = torchvision.models.resnet18(num_classes=2)
    model.train()
    opt = torch.optim.Adam(model.parameters(), lr=1e-4)
    lossf = torch.nn.CrossEntropyLoss()
    nb = len(loader)
    warm = min(a.warmup, nb - 1)
    seen = seen_w = 0
    with PssSampler() as pss:
        t0 = time.monotonic()
        t_w = t0
        for k, (x, y) in enumerate(loader):
            if x.shape[0] > 1:  # li-train leaves out a final batch of one image
                opt.zero_grad()
                with torch.autocast("cpu", dtype=torch.bfloat16, enabled=a.bf16):
                    loss = lossf(model(x), y)
                loss.backward()
                opt.step()
                seen += x.shape[0]
            if k + 1 == warm:
                t_w, seen_w = time.monotonic(), seen
        t1 = time.monotonic()
    print(f"train_img_s {seen / (t1 - t0):.3f}")
    if seen > seen_w and t1 > t_w:
        print(f"train_warm_img_s {(seen - seen_w) / (t1 - t_w):.3f}")
    print(f"train_seconds {t1 - t0:.3f}")
    print(f"final_loss {loss.item():.4f}")
    print_memory(pss)


def score(a):
    import torch
    import torchvision
    torch.set_num_threads(a.threads)
    torch.manual_seed(a.seed)
    head, rows, pc, lc = read_list(a.list)
    paths = [r[pc] for r in rows]
    loader = torch.utils.data.DataLoader(make_dataset(paths, [0] * len(rows), "none", a.seed),
                                         batch_size=a.batch, shuffle=False,
                                         num_workers=a.workers)
    # the weights do not change the work; a trained model would be loaded here
    model = torchvision.models.resnet18(num_classes=2)
    model.eval()
    with PssSampler() as pss, open(a.out, "w") as out, torch.no_grad():
        t0 = time.monotonic()
        out.write("\t".join(head + ["prob", "pred"]) + "\n")
        i = 0
        for x, _ in loader:
            with torch.autocast("cpu", dtype=torch.bfloat16, enabled=a.bf16):
                logits = model(x)
            prob = torch.softmax(logits.float(), dim=1)[:, 1].tolist()
            for p in prob:
                out.write("\t".join(rows[i] + [f"{p:.6g}", "1" if p >= 0.5 else "0"]) + "\n")
                i += 1
            out.flush()
        t1 = time.monotonic()
    print(f"score_img_s {len(rows) / (t1 - t0):.3f}")
    print(f"score_seconds {t1 - t0:.3f}")
    print_memory(pss)


def time_cmd(argv):
    cmd = argv[2:] if argv[1:2] == ["--"] else argv[1:]
    if not argv or not cmd:
        sys.exit("usage: e2e_torch.py time OUT [--] CMD...")
    t0 = time.monotonic()
    rc = subprocess.call(cmd)
    wall = time.monotonic() - t0
    with open(argv[0], "w") as f:
        f.write(f"{wall:.2f} {resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss}\n")
    return rc


def main():
    if len(sys.argv) > 1 and sys.argv[1] == "time":
        return time_cmd(sys.argv[2:])
    ap = argparse.ArgumentParser(description="the PyTorch side of bench/run-e2e")
    ap.add_argument("mode", choices=["train", "score"])
    ap.add_argument("list")
    ap.add_argument("--augment", choices=["basic", "none"], default="basic")
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--warmup", type=int, default=3, help="train: batches before train_warm_img_s")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--bf16", action="store_true",
                    help="under torch.autocast('cpu', dtype=torch.bfloat16), as li --precision bf16")
    ap.add_argument("--out", default=os.devnull, help="score: where the scored list goes")
    a = ap.parse_args()
    (train if a.mode == "train" else score)(a)
    return 0


if __name__ == "__main__":
    sys.exit(main())
