#!/usr/bin/env python3
"""Run every ```python block of README.md, in order, in ONE fresh Python process, in a temporary folder.

The blocks share one namespace, as a reader pasting them into one session would. The process gets one torch thread
and no Kaggle credentials (a temporary HOME, `KAGGLE_*` variables removed), so it runs offline on the embedded
sample, as in CI. Exits 1 naming the block (and its README line) that failed.

    python tools/run_readme.py [README.md]
"""
import json, os, re, subprocess, sys, tempfile
from pathlib import Path

root = Path(__file__).resolve().parent.parent

def python_blocks(md:str):
    "(line number, source) of each ```python block in markdown `md`"
    return [(md[:m.start()].count('\n')+2, m.group(1)) for m in re.finditer(r'^```python\n(.*?)^```', md, re.M|re.S)]

# Runs in the child: each block compiled with its README line, so a traceback points at the README
_DRIVER = r'''
import json, sys, traceback
ns = {'__name__': '__main__'}
name = sys.argv[2]
for i,(line,src) in enumerate(json.load(open(sys.argv[1]))):
    print(f'--- {name} block {i+1}, line {line}', flush=True)
    try: exec(compile('\n'*(line-1) + src, name, 'exec'), ns)
    except BaseException:
        traceback.print_exc()
        sys.exit(f'error: {name} block {i+1} (line {line}) failed')
'''

def main():
    readme = Path(sys.argv[1] if len(sys.argv) > 1 else root/'README.md').resolve()
    blocks = python_blocks(readme.read_text(encoding='utf-8'))
    if not blocks: sys.exit(f'error: {readme}: no ```python blocks to run')
    with tempfile.TemporaryDirectory(prefix='run_readme-') as tmp:
        (Path(tmp)/'blocks.json').write_text(json.dumps(blocks))
        (Path(tmp)/'home').mkdir()
        env = {k:v for k,v in os.environ.items() if not k.startswith('KAGGLE_')}
        env.update(OMP_NUM_THREADS='1', HOME=str(Path(tmp)/'home'), MPLBACKEND='Agg', PYTHONUNBUFFERED='1')
        env.pop('XDG_CONFIG_HOME', None)
        print(f'running {len(blocks)} python blocks of {readme.name} in {tmp}', flush=True)
        r = subprocess.run([sys.executable, '-c', _DRIVER, 'blocks.json', readme.name], cwd=tmp, env=env)
    if r.returncode: sys.exit(r.returncode)
    print(f'all {len(blocks)} python blocks of {readme.name} ran')

if __name__ == '__main__': main()
