#!/usr/bin/env python3
"""Generate README.md from nbs/index.ipynb (nbdev-readme needs Quarto, which this project does not install).

Markdown cells are copied as they are (links into nbs/, such as `images/batch.png`, get an `nbs/` prefix so that they
work from the repository root); code cells become ```python blocks without their `#|` directive lines, followed by
their text outputs; `#| hide` cells are left out, as are the code of `#| echo: false` cells and the outputs of
`#| output: false` cells. `--check` writes nothing: it exits 1 when README.md differs from what it would write.

    python tools/make_readme.py          # write README.md
    python tools/make_readme.py --check  # CI: is README.md up to date?
"""
import argparse, difflib, re, sys
from pathlib import Path
from fastcore.nbio import read_nb, join_out

root = Path(__file__).resolve().parent.parent
NB, README = root/'nbs'/'index.ipynb', root/'README.md'
HEADER = '<!-- generated from nbs/index.ipynb by tools/make_readme.py; edit that notebook -->'

def _fix_links(md):
    "Prefix relative links to files in nbs/ with `nbs/`, since README.md sits one folder up"
    def _f(m):
        target = m.group(2)
        if re.match(r'[a-z]+:|#|/', target) or not (root/'nbs'/target.split('#')[0]).exists(): return m.group(0)
        return f'{m.group(1)}nbs/{target}{m.group(3)}'
    return re.sub(r'(\]\()([^)\s]+)(\)|\s)', _f, md)

def _output_md(o):
    "Markdown for one output: a text block for streams and plain results; tables as HTML; images left out"
    typ = o.get('output_type')
    if typ == 'stream': return None if o.get('name') == 'stderr' else f"```\n{join_out(o['text']).rstrip()}\n```"
    if typ not in ('execute_result', 'display_data'): return None
    d = o.get('data', {})
    if 'text/markdown' in d: return join_out(d['text/markdown']).strip()
    if '<table' in join_out(d.get('text/html', '')): return join_out(d['text/html']).strip()
    if 'text/plain' in d and not any(k.startswith('image/') for k in d): return f"```\n{join_out(d['text/plain']).rstrip()}\n```"

def _outputs_md(outs):
    "Markdown for a cell's outputs, consecutive streams joined as Jupyter shows them"
    res, stream = [], []
    for o in outs:
        if o.get('output_type') == 'stream' and o.get('name') == 'stdout': stream.append(join_out(o['text'])); continue
        if stream: res.append(_output_md(dict(output_type='stream', name='stdout', text=''.join(stream)))); stream = []
        res.append(_output_md(o))
    if stream: res.append(_output_md(dict(output_type='stream', name='stdout', text=''.join(stream))))
    return [r for r in res if r]

def make_readme(nb_path=NB) -> str:
    "The README text generated from the notebook at `nb_path`"
    parts = [HEADER]
    for c in read_nb(nb_path).cells:
        d = c.directives
        if 'hide' in d: continue
        if c.cell_type == 'markdown': parts.append(_fix_links(c.source.strip()))
        elif c.cell_type == 'code':
            if str(d.get('echo', 'true')).lower() != 'false':
                c.remove_directives()
                if c.source.strip(): parts.append(f"```python\n{c.source.strip()}\n```")
            if str(d.get('output', 'true')).lower() != 'false': parts += _outputs_md(c.get('outputs', []))
    return '\n\n'.join(p for p in parts if p) + '\n'

def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument('--check', action='store_true', help='exit 1 if README.md differs from what would be generated')
    a = p.parse_args()
    new = make_readme()
    old = README.read_text(encoding='utf-8') if README.exists() else ''
    if not a.check:
        if new != old: README.write_text(new, encoding='utf-8')
        return print(f"README.md {'written' if new != old else 'already up to date'} from nbs/index.ipynb")
    if new == old: return print('README.md is up to date with nbs/index.ipynb')
    sys.stdout.writelines(list(difflib.unified_diff(old.splitlines(True), new.splitlines(True), 'README.md', 'generated'))[:60])
    sys.exit('error: README.md differs from what nbs/index.ipynb generates: run `python tools/make_readme.py` and commit both')

if __name__ == '__main__': main()
