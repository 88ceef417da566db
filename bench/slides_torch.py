#!/usr/bin/env python3
"""slides_torch.py: the CLAM way of scoring slide patches, for bench/run-slides.

Reads a li-tile --coords-only manifest (path slide x y level downsample mpp
size tissue slide_path), and for each row calls openslide-python's
read_region in a torch Dataset (one OpenSlide handle per slide per worker, as
CLAM's Whole_Slide_Bag_FP keeps one), converts to RGB, resizes when the level
read differs from the tile size, normalises with ImageNet statistics and runs
torchvision's resnet18 (eval, no_grad) in batches of 32 through a DataLoader
with 2 workers. Prints "rows N" and "seconds S" (the loop, model made before).

usage: slides_torch.py MANIFEST [--threads 2]
"""
import argparse
import csv
import time

import openslide
import torch
import torchvision
from PIL import Image


class Regions(torch.utils.data.Dataset):
    def __init__(self, rows):
        self.rows = rows
        self.handles = {}
        self.mean = torch.tensor([0.485, 0.456, 0.406]).view(3, 1, 1)
        self.std = torch.tensor([0.229, 0.224, 0.225]).view(3, 1, 1)

    def __len__(self):
        return len(self.rows)

    def __getitem__(self, i):
        r = self.rows[i]
        s = self.handles.get(r["slide_path"])
        if s is None:
            s = self.handles[r["slide_path"]] = openslide.OpenSlide(r["slide_path"])
        level, size = int(r["level"]), int(r["size"])
        side = round(size * float(r["downsample"]) / s.level_downsamples[level])
        img = s.read_region((int(r["x"]), int(r["y"])), level, (side, side)).convert("RGB")
        if side != size:
            img = img.resize((size, size), Image.BOX)
        t = torchvision.transforms.functional.pil_to_tensor(img).float() / 255
        return (t - self.mean) / self.std


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("manifest")
    ap.add_argument("--threads", type=int, default=2)
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    with open(a.manifest, newline="") as f:
        rows = list(csv.DictReader(f, delimiter="\t"))
    net = torchvision.models.resnet18(num_classes=2)
    net.eval()
    dl = torch.utils.data.DataLoader(Regions(rows), batch_size=32, num_workers=2)
    t0 = time.monotonic()
    n = 0
    with torch.no_grad():
        for x in dl:
            net(x).softmax(1)
            n += x.shape[0]
    print("rows", n)
    print("seconds", "%.3f" % (time.monotonic() - t0))


if __name__ == "__main__":
    main()
