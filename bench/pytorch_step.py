#!/usr/bin/python3
"""PyTorch CPU speed of one training step of sedlab's paper model, for comparison with `npm run bench`.

What it measures: the paper preset (src/config/config.ts PAPER; the author's gradient_sed/training/train_dense.py
in skydancerosel/grokking-integrability): p = 97, tokens [a, b], token embedding [p, d] + learned position
embedding [2, d], d = 128, 4 heads, dff = 256, 2 pre-norm nn.TransformerEncoderLayer (exact GELU, no dropout,
bidirectional), final LayerNorm, linear head read at position 0, mean cross-entropy; AdamW(lr 1e-3, betas
(0.9, 0.98), eps 1e-8, weight decay 1.0) with clip_grad_norm_(1.0); batch 512 drawn with replacement from a fixed
50 % train split of the p² pairs, label (a + b) mod p. One timed step = batch sampling + forward + backward +
clip + AdamW step, with time.perf_counter (PyTorch on CPU is synchronous, so no barrier is needed). It reports
the median and mean ms/step over --steps steps (after --warmup untimed ones) and, over the same steps, the
medians of sampling, forward+backward and optimiser (clip + AdamW) alone, plus the 512³ matmul rate, as in
sedlab's bench. --profile adds a torch.profiler split of forward+backward into matmul (mm/addmm/bmm/baddbmm
self time) and the rest, for comparison with sedlab's matmul / AdamW / rest line (profiler overhead inflates
"rest"; read it as a share, not as a time).

Threads: torch.set_num_threads(--threads) and torch.set_num_interop_threads(1) come first. Debian's torch calls
the system OpenBLAS (libblas.so.3 → openblas-pthread), whose own thread pool torch.set_num_threads does not
reach, so the script also calls openblas_set_num_threads(--threads) and reports the count OpenBLAS then has.
OPENBLAS_CORETYPE is never set or changed; it is only reported (OpenBLAS picks its kernel at load time).

Run it (Debian's python3-torch lives in /usr/bin/python3; a `python3` without torch re-executes with it), one
process at a time on an otherwise idle machine, next to sedlab's bench:

    npm run bench -- --json            # sedlab: stepMs, split {matmul, AdamW, rest}, matmulGflops
    /usr/bin/python3 bench/pytorch_step.py --json            # PyTorch, 1 thread
    /usr/bin/python3 bench/pytorch_step.py --threads 2 --json
    /usr/bin/python3 bench/pytorch_step.py --profile         # matmul share of forward+backward
    /usr/bin/python3 bench/pytorch_step.py --check           # ~100 steps: does the loss go down?

Options: --steps N (200), --warmup N (20), --threads N (1), --seed N (0), --json (one JSON line at the end),
--profile, --check. Differences from sedlab's engine to keep in mind: PyTorch's layer computes every position
in the last layer (sedlab's engine computes position 0 only) and runs generic multi-head attention (sedlab: a
two-key softmax as a sigmoid); AdamW is PyTorch's default single-tensor loop on CPU (foreach off).
"""

import argparse
import os
import sys

try:
    import torch
except ImportError:
    # A python3 without torch (e.g. a pyenv shim first on PATH): use Debian's, where python3-torch lives.
    if os.path.realpath(sys.executable) != os.path.realpath("/usr/bin/python3") and os.path.exists(
        "/usr/bin/python3"
    ):
        print("torch not importable here; re-running with /usr/bin/python3", file=sys.stderr)
        os.execv("/usr/bin/python3", ["/usr/bin/python3", *sys.argv])
    raise


def parse_args():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--steps", type=int, default=200, help="timed steps (default 200)")
    ap.add_argument("--warmup", type=int, default=20, help="untimed steps first (default 20)")
    ap.add_argument("--threads", type=int, default=1, help="intra-op threads, torch and OpenBLAS (default 1)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--json", action="store_true", help="print one JSON line at the end")
    ap.add_argument("--profile", action="store_true", help="also split forward+backward into matmul and rest")
    ap.add_argument("--check", action="store_true", help="sanity check only: ~100 steps, loss must decrease")
    return ap.parse_args()


ARGS = parse_args()
# Before anything else touches a thread pool.
torch.set_num_threads(ARGS.threads)
torch.set_num_interop_threads(1)

import ctypes  # noqa: E402
import json  # noqa: E402
import math  # noqa: E402
import re  # noqa: E402
import statistics  # noqa: E402
import time  # noqa: E402

import torch.nn as nn  # noqa: E402
import torch.nn.functional as F  # noqa: E402


def openblas_handle():
    """The OpenBLAS already loaded by torch (through libblas.so.3), or None."""
    for name in ("libopenblas.so.0", "libblas.so.3"):
        try:
            lib = ctypes.CDLL(name, mode=os.RTLD_NOLOAD | os.RTLD_LAZY)
        except OSError:
            continue
        if hasattr(lib, "openblas_set_num_threads"):
            return lib
    return None


OPENBLAS = openblas_handle()
if OPENBLAS is not None:
    OPENBLAS.openblas_set_num_threads(ARGS.threads)


def blas_info():
    """What torch was built with (BLAS_INFO) and the BLAS library actually mapped into this process."""
    m = re.search(r"BLAS_INFO=([^,\s]+)", torch.__config__.show())
    parts = [f"BLAS_INFO={m.group(1) if m else '?'}"]
    try:
        with open("/proc/self/maps") as f:
            libs = sorted({p for p in re.findall(r"(/\S*lib(?:blas|openblas|mkl_rt|blis)\S*\.so\S*)", f.read())})
        if libs:
            parts.append("loaded " + " + ".join(libs))
    except OSError:
        pass
    out = {"blas": "; ".join(parts), "openblasThreads": None, "openblasCore": None, "openblasConfig": None}
    if OPENBLAS is not None:
        OPENBLAS.openblas_get_corename.restype = ctypes.c_char_p
        OPENBLAS.openblas_get_config.restype = ctypes.c_char_p
        out["openblasThreads"] = OPENBLAS.openblas_get_num_threads()
        out["openblasCore"] = OPENBLAS.openblas_get_corename().decode()
        out["openblasConfig"] = OPENBLAS.openblas_get_config().decode()
        out["blas"] += f"; {out['openblasConfig']} (core {out['openblasCore']}, {out['openblasThreads']} thread(s))"
    return out


# The paper preset (src/config/config.ts PAPER).
P, FRAC, D, HEADS, DFF, LAYERS, BATCH = 97, 0.5, 128, 4, 256, 2, 512
LR, BETAS, EPS, WD, CLIP = 1e-3, (0.9, 0.98), 1e-8, 1.0, 1.0


class ModAddTransformer(nn.Module):
    """The author's model (train_dense.py): nn.TransformerEncoder deep-copies the layer, so both layers start
    identical, as sedlab's copyLayerInit."""

    def __init__(self):
        super().__init__()
        self.tok_emb = nn.Embedding(P, D)
        self.pos_emb = nn.Parameter(torch.randn(2, D) / math.sqrt(D))
        layer = nn.TransformerEncoderLayer(
            d_model=D, nhead=HEADS, dim_feedforward=DFF, dropout=0.0, activation="gelu",
            batch_first=True, norm_first=True,
        )
        self.encoder = nn.TransformerEncoder(layer, num_layers=LAYERS, enable_nested_tensor=False)
        self.ln = nn.LayerNorm(D)
        self.head = nn.Linear(D, P)

    def forward(self, a, b):
        h = self.tok_emb(torch.stack([a, b], dim=1)) + self.pos_emb.unsqueeze(0)
        return self.head(self.ln(self.encoder(h)[:, 0, :]))


def matmul_gflops(reps=15):
    """GFLOP/s of a plain 512³ fp32 matmul (median), as sedlab's bench prints for its own kernels."""
    a, b = torch.randn(512, 512), torch.randn(512, 512)
    for _ in range(3):
        a @ b
    ts = []
    for _ in range(reps):
        t0 = time.perf_counter()
        a @ b
        ts.append(time.perf_counter() - t0)
    return 2 * 512**3 / statistics.median(ts) / 1e9


def main():
    torch.manual_seed(ARGS.seed)
    gen = torch.Generator().manual_seed(ARGS.seed)
    # A fixed 50 % train split of all p² pairs.
    perm = torch.randperm(P * P, generator=gen)[: int(FRAC * P * P)]
    train_a, train_b = perm // P, perm % P

    model = ModAddTransformer()
    model.train()
    params = list(model.parameters())
    opt = torch.optim.AdamW(params, lr=LR, betas=BETAS, eps=EPS, weight_decay=WD)

    def sample():
        idx = torch.randint(train_a.numel(), (BATCH,), generator=gen)
        a, b = train_a[idx], train_b[idx]
        return a, b, (a + b) % P

    def step():
        """One training step; returns the loss tensor and the times of its three parts (s)."""
        t0 = time.perf_counter()
        a, b, y = sample()
        t1 = time.perf_counter()
        loss = F.cross_entropy(model(a, b), y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        t2 = time.perf_counter()
        nn.utils.clip_grad_norm_(params, CLIP)
        opt.step()
        t3 = time.perf_counter()
        return loss, t1 - t0, t2 - t1, t3 - t2

    if ARGS.check:
        n = 100
        losses = [step()[0].item() for _ in range(n)]
        start, end = sum(losses[:5]) / 5, sum(losses[-5:]) / 5
        ok = end < start
        print(f"check: train loss {losses[0]:.4f} at step 1, mean {start:.4f} over steps 1-5, "
              f"mean {end:.4f} over steps {n - 4}-{n} -> {'decreasing, OK' if ok else 'NOT decreasing'}")
        sys.exit(0 if ok else 1)

    for _ in range(ARGS.warmup):
        step()
    total, samp, fb, optim = [], [], [], []
    for _ in range(ARGS.steps):
        t0 = time.perf_counter()
        _, ts, tf, to = step()
        total.append(time.perf_counter() - t0)
        samp.append(ts)
        fb.append(tf)
        optim.append(to)

    ms = lambda xs: 1e3 * statistics.median(xs)  # noqa: E731
    step_median, step_mean = ms(total), 1e3 * statistics.fmean(total)
    gflops = matmul_gflops()
    info = blas_info()
    result = {
        "torch": torch.__version__,
        "threads": ARGS.threads,
        "stepMsMedian": step_median,
        "stepMsMean": step_mean,
        "steps": ARGS.steps,
        "blas": info["blas"],
        "openblasCoretype": os.environ.get("OPENBLAS_CORETYPE"),
        "openblasCore": info["openblasCore"],
        "openblasThreads": info["openblasThreads"],
        "split": {"sampleMsMedian": ms(samp), "forwardBackwardMsMedian": ms(fb), "optimizerMsMedian": ms(optim)},
        "matmulGflops": gflops,
    }

    if ARGS.profile:
        from torch.profiler import ProfilerActivity, profile

        n = min(ARGS.steps, 20)
        with profile(activities=[ProfilerActivity.CPU]) as prof:
            t0 = time.perf_counter()
            fb_s = sum(step()[2] for _ in range(n))
            wall = time.perf_counter() - t0
        mm_ops = {"aten::mm", "aten::addmm", "aten::bmm", "aten::baddbmm", "aten::addmv", "aten::mv"}
        mm_us = sum(e.self_cpu_time_total for e in prof.key_averages() if e.key in mm_ops)
        mm_share = mm_us / 1e6 / fb_s
        result["profile"] = {
            "steps": n,
            "stepMsProfiled": 1e3 * wall / n,
            "matmulShareOfForwardBackward": mm_share,
            "matmulMsEstimate": mm_share * result["split"]["forwardBackwardMsMedian"],
        }

    sp = result["split"]
    print(f"torch {torch.__version__}, {ARGS.threads} thread(s); {info['blas']}")
    print(f"OPENBLAS_CORETYPE:  {result['openblasCoretype'] or '(unset)'}")
    print(f"matmul 512³:        {gflops:.1f} GFLOP/s")
    print(f"paper-preset step:  median {step_median:.2f} ms, mean {step_mean:.2f} ms over {ARGS.steps} steps "
          f"(warmup {ARGS.warmup}; batch {BATCH}, p {P}, d {D}, {LAYERS} layers)")
    print(f"  split (medians):  sampling {sp['sampleMsMedian']:.2f} ms, forward+backward "
          f"{sp['forwardBackwardMsMedian']:.2f} ms, clip+AdamW {sp['optimizerMsMedian']:.2f} ms")
    if ARGS.profile:
        pr = result["profile"]
        print(f"  profiler ({pr['steps']} steps): matmul {100 * pr['matmulShareOfForwardBackward']:.0f}% of "
              f"forward+backward ~ {pr['matmulMsEstimate']:.2f} ms of the unprofiled median")
    if ARGS.json:
        print(json.dumps(result))


if __name__ == "__main__":
    main()
