"""Check and time digit_classifier on a GPU: training in bf16 and fp16, prediction, and an ensemble on full-size data.

    python bench/gpu_check.py                                # (a)-(c), (e) and (f): a few minutes on an H100
    python bench/gpu_check.py --mnist DIR --ensemble 5       # and (d): 5 seeds on Kaggle-layout MNIST, a few minutes
    python bench/gpu_check.py --device cpu --epochs 1 --quick    # a smoke test of this script, on a CPU

(a) prints torch, CUDA and GPU information; (b) trains the default `cnn` recipe on the embedded sample (3,800
training digits; 1,000 test digits whose labels are in solution.csv) in the precision `auto` picks (bf16 on GPUs of
compute capability 8.0 and up, fp16 below) and then in the other of fp16 and fp32, printing
seconds per epoch and test accuracy; (c) labels 28,000 digits on the device in each precision and prints the time;
(d) with `--mnist DIR`, a folder in Kaggle's layout (train.csv with 42,000 labelled rows, test.csv, and solution.csv
with the test labels), trains `--ensemble N` seeds of the `cnn` recipe and prints each model's test accuracy and
time and the accuracy of their averaged probabilities. It stops starting new seeds when `--budget` seconds are
spent; (e) runs the whole job as `digit-classifier run` does (`run_job`, once plain and once with `--full`: training,
pictures, submission, model files) and `learn.predict` on a digit held on the device, the paths that training alone
does not take; (f) counts the calls that make the host wait for the device during an epoch's training batches
(torch's sync debug mode on a GPU, `HostSyncs` from the test kit on a CPU) and times an epoch with them and with
fastai's augmentation and smoothed loss, which wait twice a batch (on a GPU, copying each epoch's shuffled order to the
device also waits, once an epoch), and times the recipe at batch sizes 128 and 512.
No network is used. Every line is also written to $OUT/gpu_results.txt when the environment sets OUT.
Exits 1 if a part failed (the others still run).
"""
import argparse, os, platform, sys, tempfile, time, traceback, warnings
from pathlib import Path
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # the checkout, when the package is not installed
import numpy as np, pandas as pd, torch
import digit_classifier
from digit_classifier.core import DigitsError
from digit_classifier.device import resolve_device
from digit_classifier.precision import cpu_features, fast_bf16, resolve_precision
from digit_classifier.data import get_digits
from digit_classifier.digits import Digits, read_digits
from digit_classifier.learner import arch_dls
from digit_classifier.learner import digits_learner
from digit_classifier.submission import predict_probs
from digit_classifier.test_utils import HostSyncs  # the test kit: counts, on a CPU, the calls that would wait for a GPU
from collections import Counter
import fastai  # after digit_classifier, which quiets fastai's torch.jit warning
from fastai.callback.core import Callback
from fastai.torch_core import set_seed

LINES = []
def log(*args):
    "Print a line, and keep it for $OUT/gpu_results.txt (rewritten after every line, so a killed run keeps what it had)."
    line = ' '.join(map(str, args))
    print(line, flush=True)
    LINES.append(line)
    if os.environ.get('OUT'):
        try: Path(os.environ['OUT'], 'gpu_results.txt').write_text('\n'.join(LINES) + '\n')
        except OSError: pass

def sync(dev):
    if dev.type == 'cuda': torch.cuda.synchronize(dev)

def part(name, f, *args):
    "Run one part; a failure is logged with its traceback and does not stop the others."
    log(f"\n## {name}")
    t = time.time()
    try: res = f(*args); log(f"({name}: {time.time()-t:.1f} s)"); return True, res
    except Exception:
        log(f"FAILED: {name}\n" + traceback.format_exc()); return False, None

def info(dev):
    f = cpu_features()
    yn = lambda v: 'unknown' if v is None else 'yes' if v else 'no'
    log(f"python {platform.python_version()}, torch {torch.__version__}, fastai {fastai.__version__}, digit_classifier {digit_classifier.__version__}")
    log(f"CPU: {f['model']}; AMX {yn(f['amx'])}; AVX-512 BF16 {yn(f['avx512_bf16'])}; torch threads {torch.get_num_threads()}")
    log(f"CUDA available: {torch.cuda.is_available()}; torch built for CUDA {torch.version.cuda}; cuDNN {torch.backends.cudnn.version() if torch.cuda.is_available() else None}")
    if dev.type == 'cuda':
        p = torch.cuda.get_device_properties(dev)
        log(f"GPU: {p.name}; compute capability {p.major}.{p.minor}; {p.total_memory/2**30:.1f} GiB; {p.multi_processor_count} SMs")
    log(f"device {dev}: fast_bf16 {fast_bf16(dev)}; precision auto -> {resolve_precision('auto', dev)}")

class EpochClock(Callback):
    "Seconds since the start of `fit` at the end of each epoch (after validation)."
    order = 100
    def before_fit(self): self.start,self.times = time.time(),[]
    def after_epoch(self): sync(torch.device(self.dls.device)); self.times.append(time.time() - self.start)

def train_one(data, dev, precision, epochs, seed):
    "Train the cnn recipe on `data`; return (learner, seconds, seconds per epoch after the first)."
    set_seed(seed, reproducible=True)  # as `run` trains (cuDNN deterministic, no benchmark), so the times are run's
    t = time.time()
    clock = EpochClock()
    learn = digits_learner(arch_dls(data, 'cnn', seed=seed, device=dev), 'cnn', precision=precision, cbs=clock)
    with learn.no_bar(), learn.no_logging(): learn.fit_recipe(epochs)
    sync(dev)
    secs = time.time() - t
    ts = clock.times
    per_epoch = (ts[-1] - ts[0])/(len(ts) - 1) if len(ts) > 1 else ts[0]  # the first epoch pays for warm-up
    return learn, secs, per_epoch

def per_epoch_note(n): return 's/epoch after the first' if n > 1 else 's for the one epoch (warm-up included)'

def accuracy(probs, labels): return float((probs.argmax(1) == torch.tensor(np.asarray(labels))).float().mean())

def sample_training(dev, a):
    "(b): the cnn recipe on the sample, in the automatic precision and in fp16."
    path = get_digits(Path(tempfile.mkdtemp())/'digits', source='sample')
    test = read_digits(path/'test.csv')
    truth = pd.read_csv(path/'solution.csv').Label.to_numpy()
    other = 'fp32' if resolve_precision('auto', dev) == 'fp16' else 'fp16'  # a T4 or P100: auto is fp16 already
    precs = ['auto'] + ([other] if dev.type == 'cuda' or not a.quick else [])
    learners = {}
    for p in precs:
        learn, secs, per_epoch = train_one(path, dev, p, a.epochs, 42)
        acc = accuracy(predict_probs(learn.model, test.pixels), truth)
        log(f"sample, cnn recipe, {a.epochs or learn.recipe['epochs']} epochs, {dev.type}, precision {p} -> {learn.precision}: "
            f"{secs:.1f} s in all, {per_epoch:.3f} {per_epoch_note(len(learn.recorder.values))}; valid {float(learn.recorder.values[-1][-1]):.4f}; test accuracy (1,000) {acc:.4f}")
        learners[learn.precision] = learn
    return learners, test

def predict_28000(dev, a, learners, test):
    "(c): label 28,000 digits on the device in each precision."
    model = next(iter(learners.values())).model
    big = torch.cat([test.pixels] * 28)
    precs = ['fp32', 'bf16'] + (['fp16'] if dev.type == 'cuda' else [])
    ref = None
    for p in precs:
        predict_probs(model, big[:4096], precision=p, device=dev)  # warm-up: kernels chosen, memory allocated
        ts = []
        for _ in range(1 if a.quick else 3):
            t = time.perf_counter(); probs = predict_probs(model, big, precision=p, device=dev); ts.append(time.perf_counter() - t)
        ref = probs if ref is None else ref
        log(f"predict 28,000 digits, cnn, {dev.type}, {p}: best {min(ts):.3f} s ({len(big)/min(ts):,.0f} digits/s); same labels as fp32 {accuracy(probs, ref.argmax(1)):.4f}")

def kaggle_csvs(folder):
    folder = Path(folder)
    for f in ('train.csv', 'test.csv', 'solution.csv'):
        if not (folder/f).exists(): raise FileNotFoundError(f"{folder/f}: missing (--mnist needs train.csv, test.csv and solution.csv)")
    train, test = read_digits(folder/'train.csv', labelled=True), read_digits(folder/'test.csv')
    truth = pd.read_csv(folder/'solution.csv').Label.to_numpy()
    if len(truth) != len(test): raise ValueError(f"{folder/'solution.csv'}: {len(truth)} rows, test.csv has {len(test)}")
    return train, test, truth

def ensemble(dev, a):
    "(d): N seeds of the cnn recipe on full-size data, each scored, and their average."
    train, test, truth = kaggle_csvs(a.mnist)
    if a.quick: train = Digits(train.pixels[:4000], train.labels[:4000])
    log(f"{a.mnist}: {len(train):,} training rows{'' if len(train) == 42_000 else ' (Kaggle has 42,000)'}, {len(test):,} test rows")
    t0, probs, accs, last = time.time(), [], [], 0
    for seed in range(a.ensemble):
        spent = time.time() - t0
        if seed and spent + last > a.budget:
            log(f"stopping after {seed} seeds: {spent:.0f} s spent, the next would pass --budget {a.budget:.0f} s"); break
        learn, secs, per_epoch = train_one(train, dev, 'auto', a.epochs, seed)
        t = time.perf_counter(); p = predict_probs(learn.model, test.pixels); pt = time.perf_counter() - t
        probs.append(p); accs.append(accuracy(p, truth)); last = secs
        log(f"seed {seed}: {secs:.1f} s training ({per_epoch:.2f} s/epoch, {learn.precision}), predict {pt:.2f} s; "
            f"valid {float(learn.recorder.values[-1][-1]):.4f}; test accuracy {accs[-1]:.4f}; "
            f"average of {len(probs)}: {accuracy(torch.stack(probs).mean(0), truth):.4f}")
    if probs:
        log(f"ensemble of {len(probs)}: test accuracy {accuracy(torch.stack(probs).mean(0), truth):.4f} "
            f"(single models: mean {np.mean(accs):.4f}, best {max(accs):.4f}); {time.time()-t0:.0f} s in all")

def whole_job(dev, a):
    "(e): `run_job` as the CLI runs it, plain and --full, and `learn.predict` on a digit held on the device."
    from digit_classifier.jobs import run_job
    path = get_digits(Path(tempfile.mkdtemp())/'digits', source='sample')
    for full in (False, True):
        out = Path(tempfile.mkdtemp())/'out'
        res = run_job(path, epochs=a.epochs or 2, device=dev.type, out=out, full=full)
        log(f"run_job{' --full' if full else ''} on {dev.type}: wrote {', '.join(sorted(f.name for f in out.iterdir()))}; {res.get('test_accuracy')}")
    learn = digits_learner(arch_dls(path, 'cnn', device=dev), 'cnn')
    label, idx, probs = learn.predict(learn.dls.valid_ds.pixels[0])  # on the device, as a notebook user may pass it
    log(f"learn.predict on a digit on {learn.dls.valid_ds.pixels.device}: label {label}, probs on {probs.device}")

class TrainingWaits(Callback):
    "The calls that wait for the device from the start of an epoch's training batches to their end: {'file:line': count}."
    order = 0  # before the Recorder's epoch summary, which reads the loss once
    def __init__(self, dev): self.dev,self.calls,self.on = dev,Counter(),None
    def _caller(self):
        "file:line of the first caller outside torch and fastai's tensor plumbing (a C++ warning names torch/_tensor.py)."
        f = next(f for f in reversed(traceback.extract_stack()[:-2]) if '/torch/' not in f.filename
                 and not f.filename.endswith(('fastai/torch_core.py', 'warnings.py')))
        return f"{Path(f.filename).name}:{f.lineno}"
    def before_train(self):
        if self.dev.type == 'cuda':
            self.on = warnings.catch_warnings(); self.on.__enter__()
            warnings.simplefilter('always')
            shown = warnings.showwarning
            def record(message, category, *args, **kwargs):
                if 'synchroniz' in str(message): self.calls[self._caller()] += 1
                else: shown(message, category, *args, **kwargs)
            warnings.showwarning = record
            torch.cuda.set_sync_debug_mode('warn')
        else: self.on = HostSyncs().__enter__()
    def after_train(self):
        "Stop counting (also called when training fails, so that nothing stays switched on)."
        if self.on is None: return
        if self.dev.type == 'cuda': torch.cuda.set_sync_debug_mode(0)
        else: self.calls.update(c.split(' at ')[1] for c in self.on.calls)
        self.on.__exit__(None, None, None); self.on = None

def waits(dev, a):
    "(f): waits for the device per training batch, and seconds per epoch, with this library's training loop and with fastai's."
    from fastai.vision.augment import AffineCoordTfm
    from digit_classifier.dataloaders import digit_tfms, digits_dls
    from digit_classifier.learner import LossOnDevice
    path = get_digits(Path(tempfile.mkdtemp())/'digits', source='sample')
    for p in ['auto'] + (['fp32'] if resolve_precision('auto', dev) != 'fp32' else []):
        for loop in ('digit_classifier', 'fastai'):
            set_seed(42, reproducible=True)
            aug = digit_tfms() if loop == 'digit_classifier' else [AffineCoordTfm(aff_fs=digit_tfms()[0].aff_fs, pad_mode='zeros', align_corners=False)]
            dls = digits_dls(path, valid_pct=0.05, bs=128, flat=False, batch_tfms=aug, device=dev)
            clock, w = EpochClock(), TrainingWaits(dev)
            learn = digits_learner(dls, 'cnn', precision=p, cbs=clock)
            if loop == 'fastai': learn.remove_cb(LossOnDevice)
            try:
                with learn.no_bar(), learn.no_logging(): learn.fit_one_cycle(max(a.epochs or 3, 2), 3e-2, cbs=w)
            finally: w.after_train()
            ts, n = clock.times, len(learn.dls.train) * len(clock.times)
            log(f"{loop}'s loop, {dev.type}, {learn.precision}: {sum(w.calls.values())/n:.2f} waits per training batch "
                f"({dict(w.calls) or 'none'}); {(ts[-1] - ts[0])/(len(ts) - 1):.3f} s/epoch after the first")
    for bs in (128, 512):  # a small CNN at batch 128 may be bound by kernel launches on a GPU: is a larger batch faster?
        set_seed(42, reproducible=True)
        clock = EpochClock()
        learn = digits_learner(arch_dls(path, 'cnn', bs=bs, device=dev), 'cnn', cbs=clock)
        with learn.no_bar(), learn.no_logging(): learn.fit_recipe(max(a.epochs or 3, 2))  # two at least: the first warms up
        ts = clock.times
        log(f"cnn recipe at batch size {bs}, {dev.type}, {learn.precision}: {(ts[-1] - ts[0])/(len(ts) - 1):.3f} s/epoch after the first; "
            f"valid accuracy {float(learn.recorder.values[-1][-1]):.4f} after {len(ts)} epochs")

def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument('--device', default='auto', help='auto (the GPU if there is one), cuda or cpu')
    p.add_argument('--epochs', type=int, help="epochs per training (default: the cnn recipe's)")
    p.add_argument('--mnist', help='folder with Kaggle-layout train.csv (42,000 rows), test.csv and solution.csv: runs (d)')
    p.add_argument('--ensemble', type=int, default=5, help='seeds to train in (d) (default: 5)')
    p.add_argument('--budget', type=float, default=300, help='seconds (d) may spend before it stops starting seeds (default: 300)')
    p.add_argument('--quick', action='store_true', help='one timing per prediction, at most 4,000 training rows in (d): a smoke test')
    a = p.parse_args()
    warnings.filterwarnings('ignore', message='Default grid_sample and affine_grid behavior')  # fastai's augmentation, harmless
    try: dev = resolve_device(a.device)
    except DigitsError as e: log(f"error: {e}"); return 1
    t0 = time.time()
    oks = [part('(a) torch, CUDA and GPU', info, dev)[0]]
    ok, res = part('(b) training on the sample', sample_training, dev, a); oks.append(ok)
    if ok: oks.append(part('(c) predicting 28,000 digits', predict_28000, dev, a, *res)[0])
    if a.mnist: oks.append(part(f'(d) ensemble of {a.ensemble} on {a.mnist}', ensemble, dev, a)[0])
    oks.append(part('(e) the whole job: run_job, plain and --full, and learn.predict', whole_job, dev, a)[0])
    oks.append(part('(f) waits for the device while training', waits, dev, a)[0])
    if dev.type == 'cuda': log(f"\npeak GPU memory: {torch.cuda.max_memory_allocated(dev)/2**30:.2f} GiB")
    log(f"done in {time.time()-t0:.0f} s: {sum(oks)} of {len(oks)} parts passed")
    return 0 if all(oks) else 1

if __name__ == '__main__': sys.exit(main())
