#!/usr/bin/env python3
"""Check the saved outputs of the notebooks in nbs/, which readers see on GitHub and on the docs site.

Fails when a notebook has no code cell with outputs (except those listed in `NO_OUTPUTS`, with the reason), when
11_plots.ipynb carries no PNG, and on outputs that should never be saved: memory addresses (`<... at 0x7f...>`),
progress-bar frames, stray reprs (`<...Learner>` as a cell's value), warnings on stderr, errors, and PNGs over
`MAX_PNG_KB`.
Re-execute the notebooks with `python tools/execute_notebooks.py` to fix most of these.

    python tools/check_notebooks.py [NOTEBOOK ...]
"""
import base64, re, sys
from pathlib import Path
from fastcore.nbio import read_nb, join_out

root = Path(__file__).resolve().parent.parent
NO_OUTPUTS = {'kaggle_notebook.ipynb': 'its cells run in a Kaggle Notebook, never here (skip_exec)',
              '15_results.ipynb': 'markdown only: the measured tables of runs too long to execute here'}
NEEDS_PNG = {'11_plots.ipynb'}
MAX_PNG_KB = 100
STRAY_REPR = re.compile(r'<[\w.]+( object)?>$')  # a cell's value with no informative repr, e.g. a returned Learner
BAD_TEXT = [(re.compile(r' at 0x[0-9a-fA-F]+'), 'a memory address (end the cell with `;` or assign the result)'),
            (re.compile(r'<progress|\r(?!\n)|\d+it/s\]|\|[█#]+'), 'a progress-bar frame'),
            (re.compile(r'\w+Warning\b|\bwarnings\.warn'), 'a warning')]

def _texts(o):
    "The text of output `o`, per mime type (streams as 'stream:NAME')"
    if o.output_type == 'stream': return {f'stream:{o.name}': join_out(o.text)}
    if o.output_type == 'error': return {'error': f'{o.ename}: {o.evalue}'}
    return {k: join_out(v) for k,v in o.get('data', {}).items() if k.startswith('text/')}

def check_nb(path:Path) -> list:
    "Problems with the saved outputs of notebook `path`, one string each"
    nb, res, n_out, n_png = read_nb(path), [], 0, 0
    for i,c in enumerate(nb.cells):
        outs = (c.get('outputs') or []) if c.cell_type == 'code' else []
        n_out += bool(outs)
        for o in outs:
            for mime,text in _texts(o).items():
                if mime == 'error': res.append(f'cell {i}: a saved error ({text[:100]})'); continue
                if o.output_type == 'execute_result' and mime == 'text/plain' and STRAY_REPR.match(text.strip()):
                    res.append(f'cell {i}: a stray repr {text.strip()!r} (end the cell with `;` or assign the result)')
                for pat,what in BAD_TEXT:
                    if what == 'a warning' and mime != 'stream:stderr': continue  # prose may mention a warning
                    if m := pat.search(text): res.append(f'cell {i}: {what} in {mime}: {text[max(0,m.start()-40):m.end()+20]!r}')
            if png := o.get('data', {}).get('image/png'):
                n_png += 1
                kb = len(base64.b64decode(join_out(png)))/1024
                if kb > MAX_PNG_KB: res.append(f'cell {i}: a {kb:.0f} KB PNG (at most {MAX_PNG_KB} KB: smaller figures, no retina)')
    if not n_out and path.name not in NO_OUTPUTS: res.append('no code cell has outputs: execute it with tools/execute_notebooks.py')
    if path.name in NEEDS_PNG and not n_png: res.append('no PNG output: its pictures are its subject')
    return res

def main():
    paths = [Path(p) for p in sys.argv[1:]] or sorted((root/'nbs').glob('*.ipynb'))
    bad = 0
    for p in paths:
        for prob in check_nb(p): print(f'{p.name}: {prob}'); bad += 1
    if bad: sys.exit(f'error: {bad} problem(s) in the saved outputs of the notebooks')
    print(f'{len(paths)} notebooks: saved outputs OK')

if __name__ == '__main__': main()
