"""Benchmark digit_classifier's data pipeline and recipes against the chapter-4 flow, all in one run on the same data.

    python bench/bench.py                  # the full table (about 10 minutes on 2 cores)
    python bench/bench.py --quick          # fewer epochs, for a smoke test
    python bench/bench.py --predict-only   # only the rows for labelling 28,000 digits (a minute)
    python bench/bench.py --mnist DIR      # also the default `digit-classifier run` on 7,000 MNIST digits vs the post,
                                           # and `digit-classifier predict` on a 28,000-row test.csv

Prints one markdown table; every row says where it ran (device), in which precision, and on which CPU (model name,
AMX, AVX-512 BF16), and the header gives torch's version, its threads and the load average, since other work on the
machine changes every figure. Datasets: the embedded 5,000-digit MNIST sample in the Kaggle layout (4,000 labelled
training rows, 1,000 test rows with known labels), a Kaggle-sized set (42,000 / 28,000 rows) made by augmenting
the sample with small random shifts, rotations and zooms so that the scaling with rows is visible, and with
`--mnist DIR` (MNIST's four idx files, see bench/recipes.py) 7,000 MNIST training digits from row 6,000 on, scored
on MNIST's 10,000 test digits. "The post" is the chapter-4 flow of the fastai book for all ten digits (simple_net,
`list(zip(x, y))` datasets, fastai's `DataLoader` and `Learner.fit`), as `05_scratch` builds it.
"""
import argparse, os, subprocess, sys, tempfile, time, warnings
from pathlib import Path
import numpy as np, torch, torch.nn.functional as F
from torch import nn
from digit_classifier.data import get_digits
from digit_classifier.digits import read_digits, Digits
from digit_classifier.dataloaders import digits_dls
from digit_classifier.scratch import simple_net, mnist_loss, batch_accuracy
from digit_classifier.models import arch_recipe as recipe
from digit_classifier.learner import arch_dls
from digit_classifier.learner import digits_learner, DigitsLearner
from digit_classifier.submission import predict_probs
from digit_classifier.device import resolve_device
from digit_classifier.precision import cpu_features, resolve_precision
from fastai.data.load import DataLoader  # after digit_classifier, which quiets fastai's torch.jit warning
from fastai.data.core import DataLoaders
from fastai.learner import Learner
from fastai.callback.core import Callback
from fastai.optimizer import SGD
from fastai.torch_core import set_seed

def _yn(v): return 'unknown' if v is None else 'yes' if v else 'no'
CPU = cpu_features()
CPU_NOTE = f"{CPU['model']}; AMX {_yn(CPU['amx'])}; AVX-512 BF16 {_yn(CPU['avx512_bf16'])}"
DEVICE = 'cpu'  # set by main: --device

def report(dataset, what, sec_per_epoch=None, epochs=None, seconds=None, acc=None, note='', precision='fp32', device=None):
    f = lambda v, fmt: '' if v is None else fmt.format(v)
    dev = str(device or DEVICE)
    hw = CPU_NOTE if dev == 'cpu' else f"{torch.cuda.get_device_name()}; host {CPU_NOTE}" if dev.startswith('cuda') else dev
    print(f"| {dataset} | {what} | {dev} | {precision} | {f(sec_per_epoch, '{:.3f}')} | {f(epochs, '{}')} | {f(seconds, '{:.2f}')} | {f(acc, '{:.4f}')} | {hw} | {note} |", flush=True)

def best_of(f, n=3):
    "The shortest of `n` timed calls of `f` (other work on a shared machine only ever adds time), and the last result."
    ts = []
    for _ in range(n):
        t = time.perf_counter(); r = f(); ts.append(time.perf_counter() - t)
    return min(ts), r

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
    return fit_simple_net(digits_dls(d, bs=256, flat=True, device='cpu'), epochs, lr, learner)

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

def recipe_run(d, arch, target, test=None, epochs=None, precision='auto'):
    "A library recipe (`arch_dls` + `digits_learner` + `fit_recipe`), timed end to end, and when it first reached `target`."
    set_seed(42)
    t = time.time()
    clock = EpochClock(t)
    learn = digits_learner(arch_dls(d, arch, device=DEVICE), arch, cbs=clock, precision=precision)
    with learn.no_bar(), learn.no_logging(): learn.fit_recipe(epochs)
    secs = time.time() - t
    accs = [float(v[-1]) for v in learn.recorder.values]
    reached = next((i for i, a in enumerate(accs) if a >= target), None)
    test_acc = None if test is None or test.labels is None else float((predict_probs(learn.model, test.pixels).argmax(1) == test.labels).float().mean())
    return secs, accs[-1], test_acc, learn, None if reached is None else (reached + 1, clock.times[reached])

def predict_rows(cnn_learn, test, quick=False):
    "Label 28,000 digits (the sample's 1,000 test digits, tiled) with the default CNN: torch in each precision, onnxruntime in float32 and int8."
    model = cnn_learn.model
    big = torch.cat([test.pixels] * 28)
    n = 1 if quick else 3
    dev = resolve_device(DEVICE)
    precs = ['fp32', 'bf16'] + (['fp16'] if dev.type == 'cuda' else [])
    auto = resolve_precision('auto', dev)
    labels = {}
    for p in precs:
        predict_probs(model, big[:1024], precision=p, device=dev)  # warm-up: oneDNN picks its kernels
        secs, probs = best_of(lambda: predict_probs(model, big, precision=p, device=dev), n)
        labels[p] = probs.argmax(1)
        same = '' if p == 'fp32' else f"; same labels as fp32: {float((labels[p] == labels['fp32']).float().mean()):.2%}"
        report('28,000 test digits', f'predict, cnn (torch){" (the default)" if p == auto else ""}', None, None, secs, None,
               f'best of {n}; BatchNorm folded, channels-last, bs {4096 if dev.type == "cuda" else 256}{same}', p, dev)
    try:
        from digit_classifier.modelfile import save_model
        from digit_classifier.deploy import export_onnx, OnnxModel
        tmp = Path(tempfile.mkdtemp())
        onnx_file = export_onnx(save_model(cnn_learn, tmp/'model.pth'), tmp/'model.onnx')
    except Exception as e:
        print(f"(no onnxruntime rows: {e})"); return
    om = OnnxModel(onnx_file)
    om.predict_probs(big[:1024])
    secs, p = best_of(lambda: om.predict_probs(big), n)
    same = float((p.argmax(1) == labels['fp32']).float().mean())
    report('28,000 test digits', 'predict, cnn (onnxruntime)', None, None, secs, None,
           f'best of {n}; ORT_ENABLE_ALL, {torch.get_num_threads()} threads, bs 1024; same labels as torch fp32: {same:.2%}', 'fp32', 'cpu')
    try:  # int8: static quantisation, calibrated on 500 training digits of the sample (AVX-512 VNNI where the CPU has it)
        from onnxruntime.quantization import quantize_static, CalibrationDataReader, QuantType, QuantFormat
        from onnxruntime.quantization.shape_inference import quant_pre_process
        calib = cnn_learn.dls.train_ds.items.pixels[:500].cpu().numpy().astype(np.float32) / 255
        class Calib(CalibrationDataReader):
            def __init__(self): self.it = iter([{'pixels': calib[i:i+50]} for i in range(0, len(calib), 50)])
            def get_next(self): return next(self.it, None)
        quant_pre_process(str(onnx_file), str(tmp/'pre.onnx'))
        quantize_static(str(tmp/'pre.onnx'), str(tmp/'int8.onnx'), Calib(), quant_format=QuantFormat.QDQ, per_channel=True,
                        activation_type=QuantType.QUInt8, weight_type=QuantType.QInt8)
        from digit_classifier.deploy import _session
        om.session = _session(tmp/'int8.onnx')
        om.predict_probs(big[:1024])
        secs, p = best_of(lambda: om.predict_probs(big), n)
        same = float((p.argmax(1) == labels['fp32']).float().mean())
        report('28,000 test digits', 'predict, cnn (onnxruntime, int8)', None, None, secs, None,
               f'best of {n}; static per-channel int8, not in the library; same labels as torch fp32: {same:.2%}', 'int8', 'cpu')
    except Exception as e: print(f"(no int8 row: {type(e).__name__}: {e})")

def mnist_rows(mnist, post_epochs, quick=False):
    "The default `digit-classifier run` on 7,000 MNIST training digits vs the post's flow on the same digits, both scored on MNIST's 10,000 test digits."
    sys.path.insert(0, str(Path(__file__).parent))
    from recipes import load_mnist
    import pandas as pd
    xtr, ytr, xte, yte = load_mnist(mnist)
    idx = np.random.default_rng(0).choice(np.arange(6000, len(xtr)), 7000, replace=False)
    d = Path(tempfile.mkdtemp())/'mnist7000'; d.mkdir()
    cols = [f'pixel{i}' for i in range(784)]
    train = pd.DataFrame(xtr[idx], columns=cols); train.insert(0, 'label', ytr[idx])
    train.to_csv(d/'train.csv', index=False); pd.DataFrame(xte, columns=cols).to_csv(d/'test.csv', index=False)
    pd.DataFrame({'ImageId': np.arange(1, len(yte)+1), 'Label': yte}).to_csv(d/'solution.csv', index=False)
    tr = Digits(torch.from_numpy(xtr[idx].copy()), torch.from_numpy(ytr[idx].astype(np.int64)))
    env = {**os.environ, 'DIGIT_CLASSIFIER_CACHE': tempfile.mkdtemp()}  # a first run: no parsed CSV cached
    t = time.time(); res = subprocess.run([sys.executable, str(Path(__file__).parent/'post_flow.py'), str(d), str(d.parent)], capture_output=True, text=True, env=env)
    post_wall = time.time() - t
    if res.returncode: print(f"(post flow failed: {(res.stderr or res.stdout).strip().splitlines()[-1:]})"); return
    post_acc = float((pd.read_csv(d.parent/'submission.csv').Label.to_numpy() == yte).mean())
    report('MNIST 7,000', "the post's whole flow, wall (the yardstick)", None, 60, post_wall, post_acc,
           "bench/post_flow.py: python start, pandas CSVs, simple_net 60 epochs, submission; test accuracy on MNIST's 10,000", device='cpu')
    secs, acc = post_flow(tr, post_epochs)
    report('MNIST 7,000', f"the post's Learner.fit alone, {post_epochs} epochs", secs/post_epochs, post_epochs, secs, acc, 'simple_net, SGD lr 0.1; valid accuracy', device='cpu')
    cmd = [sys.executable, '-c', 'import sys; from digit_classifier.cli import main; sys.exit(main())']
    t = time.time(); res = subprocess.run(cmd + ['run', '--data', str(d), '--out', str(d/'out'), '--device', DEVICE] + (['--epochs', '2'] if quick else []),
                                          capture_output=True, text=True, env=env); wall = time.time() - t
    if res.returncode: print(f"(run failed: {(res.stderr or res.stdout).strip().splitlines()[-1:]})"); return
    acc = float((pd.read_csv(d/'out'/'submission.csv').Label.to_numpy() == yte).mean())
    report('MNIST 7,000', 'default `digit-classifier run` (cnn recipe), wall', None, None, wall, acc,
           f"test accuracy on MNIST's 10,000; {wall/post_wall:.1f}x the post's whole flow", 'auto', DEVICE)
    # `digit-classifier predict` on a Kaggle-sized test.csv: MNIST's test digits tiled to 28,000 rows, parsed for the first time
    t28 = d.parent/'test28k'; t28.mkdir()
    pd.DataFrame(np.tile(xte, (3, 1))[:28_000], columns=cols).to_csv(t28/'test.csv', index=False)
    walls = []
    for i in range(3):
        env = {**os.environ, 'DIGIT_CLASSIFIER_CACHE': tempfile.mkdtemp()}
        t = time.time(); res = subprocess.run(cmd + ['predict', '--model', str(d/'out'/'model.pth'), '--test', str(t28/'test.csv'), '--out', str(t28/'submission.csv'), '--device', DEVICE],
                                              capture_output=True, text=True, env=env); walls.append(time.time() - t)
        if res.returncode: print(f"(predict failed: {(res.stderr or res.stdout).strip().splitlines()[-1:]})"); return
    report('28,000 test digits', '`digit-classifier predict` on a 28,000-row test.csv, wall', None, None, min(walls), None,
           f"best of 3 ({', '.join(f'{w:.2f}' for w in walls)}); python start, imports, first parse of the CSV, model, labels, submission", 'auto', DEVICE)

def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument('--quick', action='store_true', help='few epochs: a smoke test of the script, not a benchmark')
    p.add_argument('--predict-only', action='store_true', help='only the rows for labelling 28,000 digits (an untrained-size CNN, trained 2 epochs)')
    p.add_argument('--device', default='cpu', help="where the library's recipes and predictions run: cpu (default), cuda or auto")
    p.add_argument('--mnist', help="folder with MNIST's idx files: adds the default run on 7,000 MNIST digits")
    p.add_argument('--mnist-only', action='store_true', help="with --mnist: only the MNIST rows and `digit-classifier predict` (about 2 minutes)")
    p.add_argument('--sample-only', action='store_true', help='skip the Kaggle-sized (42,000-row) rows, which take about 10 minutes on 2 cores')
    a = p.parse_args()
    warnings.filterwarnings('ignore', message='Default grid_sample and affine_grid behavior')  # fastai's augmentation, harmless
    global DEVICE
    DEVICE = str(resolve_device(a.device))
    torch.set_num_threads(max(1, torch.get_num_threads()))
    path = get_digits(tempfile.mkdtemp(), source='sample')
    train, test = read_digits(path/'train.csv', labelled=True), read_digits(path/'test.csv', labelled=False)
    import pandas as pd
    test.labels = torch.tensor(pd.read_csv(path/'solution.csv').Label.values)
    big_train, big_test = (None, None) if a.sample_only or a.predict_only or a.mnist_only else kaggle_sized(train, test)
    post_epochs = 3 if a.quick else 60
    loader_epochs = 2 if a.quick else 5
    load = ', '.join(f'{v:.2f}' for v in os.getloadavg()) if hasattr(os, 'getloadavg') else 'unknown'
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads; CPU: {CPU_NOTE}; load average before: {load}\n")
    print("| data | what | device | precision | s/epoch | epochs | seconds | accuracy | hardware | note |\n|---|---|---|---|---|---|---|---|---|---|")
    if a.predict_only:
        set_seed(42)
        learn = digits_learner(arch_dls(train, 'cnn', device=DEVICE), 'cnn')
        with learn.no_bar(), learn.no_logging(): learn.fit_recipe(1 if a.quick else 2)
        return predict_rows(learn, test, a.quick)
    if a.mnist: mnist_rows(a.mnist, 3 if a.quick else 60, a.quick)
    if a.mnist_only: return
    sets = (('sample 4,000', train, test),) + (() if a.sample_only else (('Kaggle-sized 42,000', big_train, big_test),))
    for name, d, t in sets:
        secs, acc = post_flow(d, loader_epochs); report(name, '(a) post: list(zip) + DataLoader + Learner.fit', secs/loader_epochs, loader_epochs, secs, acc, 'simple_net, SGD lr 0.1', device='cpu')
        secs, acc = lib_loader(d, loader_epochs); report(name, '(b) digits_dls + Learner.fit', secs/loader_epochs, loader_epochs, secs, acc, "same model, optimiser, lr; fastai's Learner", device='cpu')
        secs, acc = lib_loader(d, loader_epochs, learner=DigitsLearner); report(name, '(b) digits_dls + DigitsLearner.fit', secs/loader_epochs, loader_epochs, secs, acc, "the same with digits_learner's Learner", device='cpu')
        secs, acc = bare_loop(d, loader_epochs); report(name, '(c) bare PyTorch slicing loop', secs/loader_epochs, loader_epochs, secs, acc, 'the floor', device='cpu')
        secs, post_acc = post_flow(d, post_epochs); report(name, f'post flow, {post_epochs} epochs (the target)', secs/post_epochs, post_epochs, secs, post_acc, 'valid accuracy to reach', device='cpu')
        for arch in ('simple_net', 'cnn') + (('resnet',) if d is train else ()):  # resnet: sample only (slow on 42,000)
            epochs = 2 if a.quick else None
            precs = ('auto', 'fp32') if arch == 'cnn' and d is train else ('auto',)  # bf16 costs no accuracy: the cnn both ways
            for prec in precs:
                s, acc, tacc, learn, reached = recipe_run(d, arch, post_acc, t, epochs, prec)
                if arch == 'cnn' and prec == 'auto': cnn_learn = learn
                n = epochs or recipe(arch)['epochs']
                got = 'never reaches the post' if reached is None else f"reaches the post after epoch {reached[0]}, {reached[1]:.1f} s: {reached[1]/secs:.2f}x the post's time"
                report(name, f'recipe {arch}', s/n, n, s, acc, f"valid; test {tacc:.4f}; {got}", learn.precision)
        if d is train: predict_rows(cnn_learn, test, a.quick)

if __name__ == '__main__': main()
