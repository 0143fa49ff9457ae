"""The search behind the default CNN: train one candidate on n MNIST training digits, score it on MNIST's 10,000 test digits.

    python bench/search.py --mnist DIR --model vgg32 --seed 0           # the chosen one: digits_cnn, wd 0.1
    python bench/search.py --mnist DIR --model strided16 --precision fp32 --wd 0.01 --seed 0   # the earlier default

DIR holds MNIST's four idx files (see bench/recipes.py). Each call prints one JSON line; the README's table of
candidates is made of such lines. Candidates differ in shape only; every one trains with the `cnn` recipe
(Adam, one cycle, label smoothing 0.1, the same augmentation) unless an option overrides part of it.
"""
import argparse, json, time
import numpy as np, torch, torch.nn.functional as F
from torch import nn
from digit_classifier.digits import Digits
from digit_classifier.dataloaders import digit_tfms, digits_dls
from digit_classifier.models import ARCHS, ToImage, digits_cnn, digits_resnet
from digit_classifier.learner import digits_learner
from digit_classifier.submission import predict_probs
from fastai.layers import ConvLayer, Flatten, ResBlock
from fastai.torch_core import set_seed  # after digit_classifier, which quiets fastai's torch.jit warning
from recipes import load_mnist

def strided(widths):
    "The earlier default: a ConvLayer at 28 pixels, then one stride-2 ConvLayer per width."
    def f(n_out=10):
        layers = [ToImage(), ConvLayer(1, widths[0])] + [ConvLayer(a, b, stride=2) for a,b in zip(widths, widths[1:])]
        return nn.Sequential(*layers, nn.AdaptiveAvgPool2d(1), Flatten(), nn.Linear(widths[-1], n_out))
    return f

def pooled_resnet(widths, layers):
    "Like `digits_resnet`, but halving the size by max-pooling between stages, as `digits_cnn` does."
    def f(n_out=10):
        body, ni = [], widths[0]
        for i, (nf, n) in enumerate(zip(widths, layers)):
            if i: body.append(nn.MaxPool2d(2))
            for _ in range(n): body.append(ResBlock(1, ni, nf)); ni = nf
        return nn.Sequential(ToImage(), ConvLayer(1, widths[0]), *body, nn.AdaptiveAvgPool2d(1), Flatten(), nn.Linear(ni, n_out))
    return f

MODELS = {'strided16': strided((16,32,64,64)), 'strided32': strided((32,64,128,128)),
          'vgg16': lambda n_out=10: digits_cnn(n_out, (16,32,64)), 'vgg24': lambda n_out=10: digits_cnn(n_out, (24,48,96)),
          'vgg32': lambda n_out=10: digits_cnn(n_out, (32,64,128)), 'vgg48': lambda n_out=10: digits_cnn(n_out, (48,96,192)),
          'resnet111': lambda n_out=10: digits_resnet(n_out, (32,64,128), (1,1,1)), 'resnet222': lambda n_out=10: digits_resnet(n_out, (32,64,128), (2,2,2)),
          'resnet48': lambda n_out=10: digits_resnet(n_out, (48,96,192), (1,1,1)), 'resnet221': lambda n_out=10: digits_resnet(n_out, (32,64,128), (2,2,1)),
          'presnet32': pooled_resnet((32,64,128), (1,1,1)), 'presnet48': pooled_resnet((48,96,192), (1,1,1))}

class Elastic:
    "Elastic distortion as a fastai coordinate transform: a smooth random displacement of the sampling grid."
    def __init__(self, magnitude, grid=4): self.magnitude,self.grid = magnitude,grid
    def before_call(self, x): self.noise = torch.empty(x.size(0), 2, self.grid, self.grid, device=x.device).uniform_(-self.magnitude, self.magnitude)
    def __call__(self, coords, invert=False):
        d = F.interpolate(self.noise, size=coords.shape[1:3], mode='bicubic', align_corners=True).permute(0,2,3,1)
        return coords + (-d if invert else d)

def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument('--mnist', required=True); p.add_argument('--model', default='vgg32', choices=MODELS)
    p.add_argument('--n', type=int, default=4000); p.add_argument('--seed', type=int, default=0)
    p.add_argument('--epochs', type=int, default=20); p.add_argument('--wd', type=float, default=0.1)
    p.add_argument('--precision', default='auto', choices=['auto', 'bf16', 'fp16', 'fp32'], help='auto: bf16 where fast_bf16, else fp32 on a CPU')
    p.add_argument('--elastic', type=float, default=0., help='elastic distortion: largest displacement, in grid units (the image spans -1..1); 0 = off')
    p.add_argument('--tta', action='store_true')
    a = p.parse_args()
    xtr, ytr, xte, yte = load_mnist(a.mnist)
    idx = np.random.default_rng(a.seed).choice(np.arange(6000, len(xtr)), a.n, replace=False)
    train = Digits(torch.from_numpy(xtr[idx]), torch.from_numpy(ytr[idx].astype(np.int64)))
    ARCHS['candidate'] = dict(ARCHS['cnn'], model=MODELS[a.model], wd=a.wd)
    tfms = digit_tfms()
    if a.elastic: tfms[0].coord_fs = [Elastic(a.elastic)]
    set_seed(a.seed, reproducible=True)
    t = time.time()
    dls = digits_dls(train, bs=128, valid_pct=ARCHS['cnn']['valid_pct'], flat=False, seed=a.seed, batch_tfms=tfms)
    learn = digits_learner(dls, 'candidate', precision=a.precision)
    with learn.no_bar(), learn.no_logging(): learn.fit_recipe(a.epochs)
    secs = time.time() - t
    probs = predict_probs(learn.model, torch.from_numpy(xte.copy()), tta=a.tta)
    acc = float((probs.argmax(1).numpy() == yte).mean())
    print(json.dumps(dict(vars(a), mnist=None, precision=learn.precision, train_seconds=round(secs, 1), valid=round(float(learn.recorder.values[-1][-1]), 4), test=round(acc, 4))))

if __name__ == '__main__': main()
