"""Benchmark digit_classifier's data pipeline and recipes against the chapter-4 flow, all in one run on the same data.

    python bench/bench.py            # the full table (about 10 minutes on 2 cores)
    python bench/bench.py --quick    # fewer epochs, for a smoke test

Prints one markdown table. Datasets: the embedded 5,000-digit MNIST sample in the Kaggle layout (4,000 labelled
training rows, 1,000 test rows with known labels), and a Kaggle-sized set (42,000 / 28,000 rows) made by augmenting
the sample with small random shifts, rotations and zooms so that the scaling with rows is visible.
"""
import argparse, tempfile, time
from pathlib import Path
import numpy as np, torch, torch.nn.functional as F
from torch import nn
from digit_classifier.data import get_digits
from digit_classifier.digits import read_digits, Digits
from digit_classifier.dataloaders import digits_dls
from digit_classifier.scratch import simple_net, mnist_loss, batch_accuracy
from digit_classifier.models import arch_dls, arch_recipe as recipe
from digit_classifier.learner import digits_learner, DigitsLearner
from digit_classifier.submission import predict_probs
from fastai.data.load import DataLoader  # after digit_classifier, which quiets fastai's torch.jit warning
from fastai.data.core import DataLoaders
from fastai.learner import Learner
from fastai.callback.core import Callback
from fastai.optimizer import SGD
from fastai.torch_core import set_seed

def report(dataset, what, sec_per_epoch=None, epochs=None, seconds=None, acc=None, note=''):
    f = lambda v, fmt: '' if v is None else fmt.format(v)
    print(f"| {dataset} | {what} | {f(sec_per_epoch, '{:.3f}')} | {f(epochs, '{}')} | {f(seconds, '{:.1f}')} | {f(acc, '{:.4f}')} | {note} |", flush=True)

def kaggle_sized(train: Digits, test: Digits, n_train=42_000, n_test=28_000, seed=0):
    "Grow the sample to Kaggle's size by randomly shifting, rotating and zooming its digits."
    g = torch.Generator().manual_seed(seed)
    def grow(d, n):
        idx = torch.randint(len(d), (n,), generator=g)
        x = d.pixels[idx].float().view(-1, 1, 28, 28)
        ang = (torch.rand(n, generator=g) - .5) * (20 * np.pi / 180)
        sc = 1 + (torch.rand(n, generator=g) - .5) * 0.2
        sh = (torch.rand(n, 2, generator=g) - .5) * (4 / 14)
        theta = torch.stack([torch.stack([ang.cos() / sc, -ang.sin() / sc, sh[:, 0]], 1),
                             torch.stack([ang.sin() / sc, ang.cos() / sc, sh[:, 1]], 1)], 1)
        grid = F.affine_grid(theta, x.shape, align_corners=False)
        x = F.grid_sample(x, grid, align_corners=False).round().clamp(0, 255).to(torch.uint8).view(n, 784)
        return Digits(x, None if d.labels is None else d.labels[idx])
    return grow(train, n_train), grow(test, n_test)

def split(d, valid_pct=10/42, seed=42):
    n_valid = round(len(d) * valid_pct)
    trn, val = torch.utils.data.random_split(range(len(d)), [len(d) - n_valid, n_valid], generator=torch.Generator().manual_seed(seed))
    return [torch.tensor(list(o.indices)) for o in (trn, val)]

def fit_simple_net(dls, epochs, lr=0.1, learner=Learner):
    "Time `learner.fit` of the post's simple_net, SGD and loss on `dls`; return (seconds, last validation accuracy)."
    learn = learner(dls, simple_net(), opt_func=SGD, loss_func=mnist_loss, metrics=batch_accuracy)
    t = time.time()
    with learn.no_bar(), learn.no_logging(): learn.fit(epochs, lr)
    return (time.time() - t), float(learn.recorder.values[-1][2])

def post_flow(d, epochs, lr=0.1):
    "(a) The post: list(zip(x, onehot)), random_split, fastai DataLoader per item, Learner.fit with SGD."
    set_seed(42)
    ds = list(zip(d.x, d.onehot))
    n_valid = round(len(ds) * 10/42)
    trn, val = torch.utils.data.random_split(ds, [len(ds) - n_valid, n_valid], generator=torch.Generator().manual_seed(42))
    return fit_simple_net(DataLoaders(DataLoader(trn, batch_size=256, shuffle=True), DataLoader(val, batch_size=256)), epochs, lr)

def lib_loader(d, epochs, lr=0.1, learner=Learner):
    "(b) The library's DataLoaders (its defaults: validation in batches of 1,024), same model, optimiser, loss and fit."
    set_seed(42)
    return fit_simple_net(digits_dls(d, bs=256, flat=True), epochs, lr, learner)

def bare_loop(d, epochs, lr=0.1):
    "(c) The floor: a bare PyTorch loop slicing one float tensor, same model and plain SGD, validating in batches of 256."
    torch.manual_seed(42)
    trn, val = split(d)
    x, y = d.x, d.labels
    xt, yt, xv, yv = x[trn], y[trn], x[val], y[val]
    model = simple_net()
    opt = torch.optim.SGD(model.parameters(), lr=lr)
    t = time.time()
    for _ in range(epochs):
        perm = torch.randperm(len(xt))
        for i in range(0, len(xt) - 255, 256):
            b = perm[i:i + 256]
            loss = F.cross_entropy(model(xt[b]), yt[b])
            loss.backward(); opt.step(); opt.zero_grad()
        with torch.no_grad():
            correct, loss = 0, 0.
            for i in range(0, len(xv), 256):
                out = model(xv[i:i + 256])
                loss += float(F.cross_entropy(out, yv[i:i + 256], reduction='sum'))
                correct += int((out.argmax(1) == yv[i:i + 256]).sum())
            acc = correct / len(xv)
    return (time.time() - t), acc

class EpochClock(Callback):
    "Seconds since `start` at the end of each epoch (after validation)."
    order = 100  # after the Recorder has logged the epoch
    def __init__(self, start): self.start,self.times = start,[]
    def after_epoch(self): self.times.append(time.time() - self.start)

def recipe_run(d, arch, target, test=None, epochs=None):
    "A library recipe (`arch_dls` + `digits_learner` + `fit_recipe`), timed end to end, and when it first reached `target`."
    set_seed(42)
    t = time.time()
    clock = EpochClock(t)
    learn = digits_learner(arch_dls(d, arch), arch, cbs=clock)
    with learn.no_bar(), learn.no_logging(): learn.fit_recipe(epochs)
    secs = time.time() - t
    accs = [float(v[-1]) for v in learn.recorder.values]
    reached = next((i for i, a in enumerate(accs) if a >= target), None)
    test_acc = None if test is None or test.labels is None else float((predict_probs(learn.model, test.pixels).argmax(1) == test.labels).float().mean())
    return secs, accs[-1], test_acc, learn, None if reached is None else (reached + 1, clock.times[reached])

def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument('--quick', action='store_true', help='few epochs: a smoke test of the script, not a benchmark')
    a = p.parse_args()
    torch.set_num_threads(max(1, torch.get_num_threads()))
    path = get_digits(tempfile.mkdtemp(), source='sample')
    train, test = read_digits(path/'train.csv', labelled=True), read_digits(path/'test.csv', labelled=False)
    import pandas as pd
    test.labels = torch.tensor(pd.read_csv(path/'solution.csv').Label.values)
    big_train, big_test = kaggle_sized(train, test)
    post_epochs = 3 if a.quick else 60
    loader_epochs = 2 if a.quick else 5
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads\n")
    print("| data | what | s/epoch | epochs | seconds | accuracy | note |\n|---|---|---|---|---|---|---|")
    for name, d, t in (('sample 4,000', train, test), ('Kaggle-sized 42,000', big_train, big_test)):
        secs, acc = post_flow(d, loader_epochs); report(name, '(a) post: list(zip) + DataLoader + Learner.fit', secs/loader_epochs, loader_epochs, secs, acc, 'simple_net, SGD lr 0.1')
        secs, acc = lib_loader(d, loader_epochs); report(name, '(b) digits_dls + Learner.fit', secs/loader_epochs, loader_epochs, secs, acc, "same model, optimiser, lr; fastai's Learner")
        secs, acc = lib_loader(d, loader_epochs, learner=DigitsLearner); report(name, '(b) digits_dls + DigitsLearner.fit', secs/loader_epochs, loader_epochs, secs, acc, "the same with digits_learner's Learner")
        secs, acc = bare_loop(d, loader_epochs); report(name, '(c) bare PyTorch slicing loop', secs/loader_epochs, loader_epochs, secs, acc, 'the floor')
        secs, post_acc = post_flow(d, post_epochs); report(name, f'post flow, {post_epochs} epochs (the target)', secs/post_epochs, post_epochs, secs, post_acc, 'valid accuracy to reach')
        for arch in ('simple_net', 'cnn') + (('resnet',) if d is train else ()):  # resnet: sample only (slow on 42,000)
            epochs = 2 if a.quick else None
            s, acc, tacc, learn, reached = recipe_run(d, arch, post_acc, t, epochs)
            if arch == 'cnn': cnn_learn = learn
            n = epochs or recipe(arch)['epochs']
            got = 'never reaches the post' if reached is None else f"reaches the post after epoch {reached[0]}, {reached[1]:.1f} s: {reached[1]/secs:.2f}x the post's time"
            report(name, f'recipe {arch}', s/n, n, s, acc, f"valid; test {tacc:.4f}; {got}")
        if d is not train: continue
        model = cnn_learn.model
        big = torch.cat([test.pixels] * 28)
        predict_probs(model, big[:1024])
        t0 = time.time(); predict_probs(model, big); report('28,000 test digits', 'predict, cnn (torch)', None, None, time.time()-t0, None, 'BatchNorm folded, bf16 where fast_bf16, bs 256')
        t0 = time.time(); predict_probs(model, big, bf16=False); report('28,000 test digits', 'predict, cnn (torch, float32)', None, None, time.time()-t0, None, 'BatchNorm folded, bs 256')
        from digit_classifier.modelfile import save_model
        from digit_classifier.deploy import export_onnx, OnnxModel
        tmp = Path(tempfile.mkdtemp())
        om = OnnxModel(export_onnx(save_model(cnn_learn, tmp/'model.pth'), tmp/'model.onnx'))
        om.predict_probs(big[:1024])
        t0 = time.time(); p = om.predict_probs(big); secs = time.time()-t0
        same = float((p.argmax(1) == predict_probs(model, big, bf16=False).argmax(1)).float().mean())
        report('28,000 test digits', 'predict, cnn (onnxruntime)', None, None, secs, None, f'same labels as torch float32: {same:.2%}')

if __name__ == '__main__': main()
