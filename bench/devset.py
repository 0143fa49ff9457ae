"""Choose recipes on MNIST digits outside both sets: the 18,000 MNIST training digits not among the leaderboard's 42,000.

    python bench/devset.py --mnist DIR --models out/model-1.pth out/model-2.pth   # score saved models there
    python bench/devset.py --mnist DIR --seeds 1 --elastic 1.25                  # a cnn_wide with an elastic distortion
    python bench/devset.py --mnist DIR --seeds 1 2 3 --model dropout             # Deotte's Kaggle CNN, with dropout

DIR holds MNIST's four idx files (see `bench/recipes.py`). The 42,000 training digits are those of `bench/ensembles.py`
and of the leaderboard runs in `15_results`; the other 18,000 of MNIST's 60,000 training digits are a development
set, for choosing a recipe without looking at MNIST's test digits. Each member trains as `bench/ensembles.py` trains
one (all 42,000 but 42, the recipe's settings), with an elastic distortion added to its augmentation when `--elastic`
is above 0, and `--model dropout` for the arch's network: the CNN of Chris Deotte's Kaggle kernels (strided 5x5
convolutions instead of pooling, dropout 0.4 after each block; about a third of `cnn_wide`'s arithmetic), trained
with the arch's recipe. An elastic distortion is a random displacement on a 5x5 grid (`--elastic` pixels standard deviation) upsampled bicubically to
28x28, after Simard et al. (2003). Prints the development-set accuracy only; the test digits' probabilities are
saved beside the development set's in `--save` (default probs-dev/), to be scored once a recipe is chosen.
"""
import argparse, time
from pathlib import Path
import numpy as np, torch
import torch.nn.functional as F
from recipes import load_mnist
from ensembles import leaderboard_rows
from digit_classifier.digits import Digits
from digit_classifier.learner import arch_dls, digits_learner
from digit_classifier.models import arch_recipe
from digit_classifier.submission import predict_probs
from digit_classifier.deploy import load_predictor
from digit_classifier.dataloaders import DigitAffine, digit_tfms
from fastai.torch_core import set_seed, TensorImage  # after digit_classifier, which quiets fastai's torch.jit warning
from fastai.vision.augment import affine_grid
from torch import nn
from digit_classifier.models import ToImage

def dropout_cnn(n_out:int=10):
    "Chris Deotte's MNIST CNN (Kaggle, 2018): 32-32-32s2 and 64-64-64s2 blocks with dropout 0.4, then a 4x4 convolution."
    def conv(ni, nf, ks, stride=1, pad=0): return [nn.Conv2d(ni, nf, ks, stride, pad), nn.ReLU(), nn.BatchNorm2d(nf)]
    return nn.Sequential(ToImage(),
        *conv(1, 32, 3), *conv(32, 32, 3), *conv(32, 32, 5, 2, 2), nn.Dropout(0.4),     # 28 -> 26 -> 24 -> 12
        *conv(32, 64, 3), *conv(64, 64, 3), *conv(64, 64, 5, 2, 2), nn.Dropout(0.4),    # 12 -> 10 -> 8 -> 4
        *conv(64, 128, 4), nn.Flatten(), nn.Dropout(0.4), nn.Linear(128, n_out))      # 4 -> 1

class ElasticAffine(DigitAffine):
    "`DigitAffine` plus a smooth random displacement of every pixel: noise on a coarse grid, upsampled bicubically."
    def __init__(self, *args, elastic_px=1.25, coarse=5, **kwargs):
        super().__init__(*args, **kwargs); self.elastic_px,self.coarse = elastic_px,coarse
    def encodes(self, x:TensorImage):
        if self.split_idx: return x
        size = tuple(x.shape[-2:])
        grid = affine_grid(self.mat, (*x.shape[:2], *size), align_corners=self.align_corners)
        noise = torch.randn(x.shape[0], 2, self.coarse, self.coarse, device=x.device) * (self.elastic_px * 2 / size[-1])
        field = F.interpolate(noise, size=size, mode='bicubic', align_corners=True).permute(0, 2, 3, 1)
        return TensorImage(F.grid_sample(x, grid + field, mode=self.mode, padding_mode=self.pad_mode, align_corners=self.align_corners))

def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument('--mnist', required=True, help="folder with MNIST's four idx files")
    p.add_argument('--models', nargs='*', default=[], help='saved model files (.pth or .onnx) to score on the development set')
    p.add_argument('--seeds', type=int, nargs='*', default=[], help='train one member per seed')
    p.add_argument('--arch', default='cnn_wide'); p.add_argument('--epochs', type=int, default=20)
    p.add_argument('--elastic', type=float, default=0., help='elastic distortion, pixels standard deviation (0: none)')
    p.add_argument('--model', choices=['arch', 'dropout'], default='arch', help="the arch's network, or Deotte's CNN with dropout")
    p.add_argument('--save', default='probs-dev', help='folder for each model\'s development and test probabilities')
    a = p.parse_args()
    xtr, ytr, xte, yte = load_mnist(a.mnist)
    idx = leaderboard_rows(42000)
    dev = np.setdiff1d(np.arange(60000), idx)
    xdev, ydev, xtest = torch.from_numpy(xtr[dev].copy()), torch.from_numpy(ytr[dev].astype(np.int64)), torch.from_numpy(xte.copy())
    acc = lambda probs: float((probs.argmax(1) == ydev).float().mean())
    out = Path(a.save); out.mkdir(exist_ok=True)
    def keep(name, model):
        pd, pt = predict_probs(model, xdev, precision='fp32'), predict_probs(model, xtest, precision='fp32')
        torch.save(dict(dev=pd, test=pt), out/f'{name}.pt')
        return pd
    print(f"| model | development accuracy ({len(dev):,}) | errors | train seconds |\n|---|---|---|---|")
    probs = []
    for m in a.models:
        probs.append(keep(f"{Path(m).parent.name}-{Path(m).stem}", load_predictor(m).model))
        print(f"| {m} | {acc(probs[-1]):.4f} | {int((probs[-1].argmax(1) != ydev).sum())} | |", flush=True)
    if len(probs) > 1: print(f"| the {len(probs)} above averaged | {acc(torch.stack(probs).mean(0)):.4f} | | |"); probs = []
    for seed in a.seeds:
        train = Digits(torch.from_numpy(xtr[idx]), torch.from_numpy(ytr[idx].astype(np.int64)))
        set_seed(seed, reproducible=True); t = time.time()
        dls = arch_dls(train, a.arch, seed=seed, valid_pct=0.001)  # 0.001: all but a handful, as bench/ensembles.py
        if a.elastic:
            aug = ElasticAffine(aff_fs=digit_tfms()[0].aff_fs, pad_mode='zeros', align_corners=False, elastic_px=a.elastic)
            dls.train.after_batch.fs[-1] = dls.valid.after_batch.fs[-1] = aug
        learn = digits_learner(dls, dropout_cnn if a.model == 'dropout' else a.arch, recipe=arch_recipe(a.arch))
        with learn.no_bar(), learn.no_logging(): learn.fit_recipe(a.epochs)
        name = f"{a.arch}{'-dropout' if a.model == 'dropout' else ''}-elastic{a.elastic}-s{seed}"
        probs.append(keep(name, learn.model))
        print(f"| {name} | {acc(probs[-1]):.4f} | {int((probs[-1].argmax(1) != ydev).sum())} | {time.time()-t:.0f} |", flush=True)
    if len(probs) > 1: print(f"| the {len(probs)} above averaged | {acc(torch.stack(probs).mean(0)):.4f} | | |")

if __name__ == '__main__': main()
