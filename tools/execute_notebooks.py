#!/usr/bin/env python3
"""Re-execute the notebooks in place and keep their outputs: what readers see on GitHub and on the docs site.

    python tools/execute_notebooks.py                          # every notebook in nbs/, two at a time
    python tools/execute_notebooks.py nbs/05_scratch.ipynb     # some of them
    python tools/execute_notebooks.py --flags slow             # also run the `#| slow` cells

This is `nbdev-test --save` (which writes a notebook back, with its outputs, only when all its cells pass) with
settings that make the outputs reproducible and compact:

- one torch thread (`OMP_NUM_THREADS=1`), `PYTHONHASHSEED=0`, and no Kaggle credentials (a temporary HOME without
  `KAGGLE_*` variables), so every run uses the embedded sample; the notebooks seed their own training (`set_seed`);
- an IPython start-up file that makes figures plain PNG at 72 dpi (execnb's default is retina), and shows fastai's
  progress as Jupyter finally does: no bars, and `Learner.fit`'s results table once (a captured run would otherwise
  keep every frame of every bar);
- outputs of cells that are not run (`#| slow`, `#| notest`, `#| eval: false`) are cleared first, so none is stale.

Then it runs `nbdev-clean` on them, regenerates README.md when index.ipynb was run, and checks the saved outputs
(`tools/check_notebooks.py`). Commit the notebooks (and README.md) it changed.
"""
import argparse, os, subprocess, sys, tempfile
from pathlib import Path
from fastcore.nbio import read_nb, write_nb
from nbdev.config import get_config
from nbdev.test import nb_test_cells

root = Path(__file__).resolve().parent.parent
tools = Path(__file__).resolve().parent

# Runs in each notebook's shell before its first cell, as an IPython profile start-up file (its output is discarded)
STARTUP = '''
from matplotlib_inline.backend_inline import set_matplotlib_formats
set_matplotlib_formats('png')  # not retina: a quarter of the pixels
import matplotlib as mpl
mpl.rcParams.update({'figure.dpi': 72, 'savefig.dpi': 'figure'})

# fastai's progress bars, as a saved notebook should keep them: a captured run records every update of a live bar,
# so bars display nothing, and `fit` displays its results table once, at the end, as Jupyter finally shows it
import fastprogress.fastprogress as fpp
from fastcore.xml import to_xml
from IPython.display import display, HTML
class _SilentBar(fpp.NBProgressBar):
    def __init__(self, *args, **kwargs): super().__init__(*args, **kwargs); self.display = False
    def on_update(self, val, text, interrupted=False): pass
class _TableMasterBar(fpp.NBMasterBar):
    pcls = _SilentBar
    def on_iter_begin(self):
        if self.hdrs is not None: self.write(self.hdrs, table=True)
    def show(self): pass
    def on_iter_end(self):
        if self.text_parts: display(HTML(to_xml(fpp.Div(*self.text_parts))))
fpp.master_bar, fpp.progress_bar = _TableMasterBar, _SilentBar
'''

def clear_unrun(path, skip_flags, force_flags):
    "Clear the outputs of the code cells of notebook `path` that nbdev-test will not run"
    run = {c.id for c in nb_test_cells(path, skip_flags, force_flags)}
    nb = read_nb(path)
    for c in nb.cells:
        if c.cell_type == 'code' and c.id not in run and c.get('outputs'): c.outputs, c.execution_count = [], None
    write_nb(nb, path)

def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument('notebooks', nargs='*', help='notebooks to execute (default: all in nbs/)')
    p.add_argument('--flags', default='', help='space separated test flags whose cells run too, e.g. slow')
    p.add_argument('--n-workers', type=int, default=2, help='notebooks executed at a time')
    a = p.parse_args()
    nbs = [Path(o).resolve() for o in a.notebooks] or sorted((root/'nbs').glob('*.ipynb'))
    skip = get_config(nbs[0].parent).tst_flags
    skip = skip.split() if isinstance(skip, str) else list(skip)
    for nb in nbs: clear_unrun(nb, skip, a.flags.split())

    with tempfile.TemporaryDirectory(prefix='execute_notebooks-') as tmp:
        tmp = Path(tmp)
        (tmp/'ipython/profile_default/startup').mkdir(parents=True)
        (tmp/'ipython/profile_default/startup/00-execute-notebooks.py').write_text(STARTUP)
        (tmp/'home').mkdir()
        env = {k:v for k,v in os.environ.items() if not k.startswith('KAGGLE_')}
        env.update(OMP_NUM_THREADS='1', PYTHONHASHSEED='0', HOME=str(tmp/'home'), IPYTHONDIR=str(tmp/'ipython'),
                   MPLCONFIGDIR=str(tmp/'mpl'), GRADIO_ANALYTICS_ENABLED='False')
        env.pop('XDG_CONFIG_HOME', None)
        nbdev_test = [str(Path(sys.executable).parent/'nbdev-test')]
        failed = 0
        if a.notebooks:  # one at a time: nbdev-test takes one path
            for nb in nbs:
                failed += subprocess.run(nbdev_test + [str(nb), '--save', '--flags', a.flags], env=env).returncode != 0
        else:
            failed = subprocess.run(nbdev_test + ['--save', '--n-workers', str(a.n_workers), '--flags', a.flags],
                                    cwd=root, env=env).returncode != 0

    nbdev_clean = str(Path(sys.executable).parent/'nbdev-clean')
    for nb in nbs: subprocess.run([nbdev_clean, '--fname', str(nb)], check=True)
    if root/'nbs'/'index.ipynb' in nbs: subprocess.run([sys.executable, str(tools/'make_readme.py')], check=True)
    checked = subprocess.run([sys.executable, str(tools/'check_notebooks.py')] + [str(o) for o in nbs]).returncode
    if failed: sys.exit('error: some notebooks failed (above) and were not saved')
    sys.exit(checked)

if __name__ == '__main__': main()
