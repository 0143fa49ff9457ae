"""Ensembles on MNIST: train members on 42,000 MNIST training digits, score each and their average on MNIST's 10,000 test digits.

    python bench/ensembles.py --mnist DIR --seeds 1 2 3 4 5                       # `run --ensemble 5 --full --epochs 20`'s members
    python bench/ensembles.py --mnist DIR --seeds 1 2 3 4 5 --bag 0.95            # each member on its own random 95% of the rows
    python bench/ensembles.py --mnist DIR --arch cnn_wide --seeds 1               # the wider CNN (= --widths 48 96 192)
    python bench/ensembles.py --mnist DIR --arch resnet --seeds 0 --save probs/   # keep each member's test probabilities
    python bench/ensembles.py --combine probs/*.pt --mnist DIR                    # average saved members

DIR holds MNIST's four idx files (see `bench/recipes.py`). The 42,000 training digits are those of the leaderboard
figures in `15_results`: `np.random.default_rng(0)`, after one permutation of 54,000, then `permutation(60000)[:42000]`.
Members train on all of them but 42 (as `--full` would, less a token validation set) with the recipe's settings, 20
epochs by default: on 2 CPU cores about 4-5 minutes a `cnn`, 8-9 a `cnn_wide` (7.7-9.1 measured).
"""
import argparse, time
from functools import partial
from pathlib import Path
import numpy as np, torch
from recipes import load_mnist
from digit_classifier.digits import Digits
from digit_classifier.models import arch_recipe
from digit_classifier.learner import arch_dls, digits_learner
from digit_classifier.submission import predict_probs
from digit_classifier.precision import cpu_features
from fastai.torch_core import set_seed  # after digit_classifier, which quiets fastai's torch.jit warning

def leaderboard_rows(n_train:int):
    "The indices of the 42,000 training digits used for the leaderboard figures (or the first `n_train` of them)."
    rng = np.random.default_rng(0)
    rng.permutation(54000)  # the draw that made the 7,000-digit sets comes first
    return rng.permutation(60000)[:42000][:n_train]

def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument('--mnist', required=True, help="folder with MNIST's four idx files")
    p.add_argument('--arch', default='cnn'); p.add_argument('--epochs', type=int, default=20)
    p.add_argument('--widths', type=int, nargs=3, help="the arch's channels at 28, 14 and 7 pixels, e.g. 48 96 192")
    p.add_argument('--seeds', type=int, nargs='*', default=[1, 2, 3, 4, 5])
    p.add_argument('--bag', type=float, default=1., help='train each member on this fraction of the rows, drawn per seed')
    p.add_argument('--n', type=int, default=42000, help='training digits (fewer for a quick check)')
    p.add_argument('--save', help='folder to save each member\'s test probabilities in')
    p.add_argument('--combine', nargs='*', default=[], help='saved probabilities (.pt) to average with the new members')
    a = p.parse_args()
    xtr, ytr, xte, yte = load_mnist(a.mnist)
    test_px, test_y = torch.from_numpy(xte.copy()), torch.from_numpy(yte.astype(np.int64))
    acc = lambda probs: float((probs.argmax(1) == test_y).float().mean())
    f = cpu_features()
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads; CPU: {f['model']}, AMX {f['amx']}, AVX-512 BF16 {f['avx512_bf16']}")
    probs = [torch.load(c) for c in a.combine]
    for c, pr in zip(a.combine, probs): print(f"| {c} | | | {acc(pr):.4f} |")
    idx = leaderboard_rows(a.n)
    if a.seeds: print(f"\n{a.arch}{f' widths {a.widths}' if a.widths else ''}, {a.epochs} epochs, each member on {a.bag:.0%} of {len(idx):,} digits\n\n| member | seed | train seconds | test accuracy (10,000) |\n|---|---|---|---|")
    for seed in a.seeds:
        rows = idx if a.bag >= 1 else idx[np.random.default_rng(1000+seed).permutation(len(idx))[:int(a.bag*len(idx))]]
        train = Digits(torch.from_numpy(xtr[rows]), torch.from_numpy(ytr[rows].astype(np.int64)))
        set_seed(seed, reproducible=True)
        t = time.time()
        model = partial(arch_recipe(a.arch)['model'], widths=tuple(a.widths)) if a.widths else a.arch
        learn = digits_learner(arch_dls(train, a.arch, seed=seed, valid_pct=0.001), model, recipe=arch_recipe(a.arch))  # 0.001: all but a handful
        with learn.no_bar(), learn.no_logging(): learn.fit_recipe(a.epochs)
        secs = time.time() - t
        probs.append(predict_probs(learn.model, test_px, precision='fp32'))
        if a.save: Path(a.save).mkdir(parents=True, exist_ok=True); torch.save(probs[-1], Path(a.save)/f"{a.arch}{'-w' + '-'.join(map(str, a.widths)) if a.widths else ''}-e{a.epochs}-bag{a.bag}-seed{seed}.pt")
        print(f"| {a.arch} | {seed} | {secs:.0f} | {acc(probs[-1]):.4f} |", flush=True)
    if len(probs) > 1:
        each = [acc(pr) for pr in probs]
        print(f"\nensemble of {len(probs)}: {acc(torch.stack(probs).mean(0)):.4f} (members {min(each):.4f}-{max(each):.4f}, mean {np.mean(each):.4f})")

if __name__ == '__main__': main()
