#!/usr/bin/env bash
# Execute tslab notebooks headlessly (nbconvert/nbclient) and export each one to a self-contained HTML report.
#
#   bash scripts/run-notebooks.sh [--preset test|quick|paper] [--out DIR] [NOTEBOOK.ipynb ...]
#
#   --preset P   passed to the notebooks as $SEDLAB_PRESET (default: $SEDLAB_PRESET, else "quick")
#   --out DIR    where NAME.html goes (default: reports/); on failure NAME.failed.{ipynb,html} instead
#   NOTEBOOK     default: notebooks/*.ipynb
#
# Environment: SEDLAB_NB_TIMEOUT  wall-clock budget per notebook in seconds (default 900);
#              SEDLAB_PYTHON      python with nbconvert + nbclient (default: the python behind `jupyter`).
# Exit status 1 if any cell of any notebook fails (error, timeout, dead kernel); the failing cell's stderr outputs
# are printed (tslab reports errors there, not in the error reply). Needs `bash scripts/setup.sh` run once.
set -euo pipefail

usage() { sed -n '2,13p' "$0" | sed 's/^# \{0,1\}//'; }

preset="${SEDLAB_PRESET:-quick}"
out="reports"
notebooks=()
while (($#)); do
  case "$1" in
    --preset) [[ $# -ge 2 ]] || { echo "error: --preset needs a value" >&2; exit 2; }; preset="$2"; shift 2 ;;
    --preset=*) preset="${1#*=}"; shift ;;
    --out) [[ $# -ge 2 ]] || { echo "error: --out needs a value" >&2; exit 2; }; out="$2"; shift 2 ;;
    --out=*) out="${1#*=}"; shift ;;
    -h | --help) usage; exit 0 ;;
    --) shift; notebooks+=("$@"); break ;;
    -*) echo "error: unknown option $1" >&2; usage >&2; exit 2 ;;
    *) notebooks+=("$1"); shift ;;
  esac
done

case "$preset" in
  test | quick | paper) ;;
  *) echo "error: --preset must be test, quick or paper (got '$preset')" >&2; exit 2 ;;
esac
budget="${SEDLAB_NB_TIMEOUT:-900}"
[[ "$budget" =~ ^[1-9][0-9]*$ ]] || { echo "error: SEDLAB_NB_TIMEOUT must be a positive integer (s)" >&2; exit 2; }

# Resolve user paths against the caller's cwd, then work from the repository root.
abspath() { case "$1" in /*) printf '%s\n' "$1" ;; *) printf '%s/%s\n' "$PWD" "$1" ;; esac; }
out="$(abspath "$out")"
for i in "${!notebooks[@]}"; do notebooks[i]="$(abspath "${notebooks[i]}")"; done
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

# shellcheck source=scripts/jupyter-python.sh
source "$ROOT/scripts/jupyter-python.sh"
if ! PY="$(jupyter_python 'import nbconvert, nbclient, jupyter_client')"; then
  echo "error: no python with nbconvert + nbclient found (Jupyter is not installed)." >&2
  echo "       Run the setup first:  bash scripts/setup.sh" >&2
  exit 1
fi

export JUPYTER_PATH="$ROOT/.jupyter-env/share/jupyter"
export PYDEVD_DISABLE_FILE_VALIDATION=1
export SEDLAB_PRESET="$preset"

kernel_json="$JUPYTER_PATH/kernels/tslab/kernel.json"
kernel_bin=""
[[ -f "$kernel_json" ]] &&
  kernel_bin="$("$PY" -c 'import json,sys; print(json.load(open(sys.argv[1]))["argv"][0])' "$kernel_json" 2>/dev/null || true)"
if [[ -z "$kernel_bin" || ! -x "$kernel_bin" ]]; then
  echo "error: the tslab Jupyter kernel is not registered for this checkout" >&2
  echo "       (expected $kernel_json pointing at an existing node_modules/.bin/tslab)." >&2
  echo "       Run the setup first:  bash scripts/setup.sh" >&2
  exit 1
fi

if ((${#notebooks[@]} == 0)); then
  shopt -s nullglob
  for nb in "$ROOT"/notebooks/*.ipynb; do
    [[ "$nb" == *.failed.ipynb ]] || notebooks+=("$nb")
  done
  shopt -u nullglob
  if ((${#notebooks[@]} == 0)); then
    echo "run-notebooks: no notebooks in notebooks/ - nothing to do"
    exit 0
  fi
fi
for nb in "${notebooks[@]}"; do
  [[ -f "$nb" ]] || { echo "error: no such notebook: $nb" >&2; exit 2; }
done
mkdir -p "$out"

# Runs one notebook: argv = notebook, out dir, budget (s). Exit 0 ok, 1 failed. One kernel per notebook; the
# budget is the notebook's wall clock (each cell may use what the previous cells left), enforced by nbclient, which
# then shuts the kernel down. On failure the partial notebook is still exported (NAME.failed.html/.ipynb).
read -r -d '' DRIVER <<'PY' || true
import math, os, re, sys, time
import jinja2
import nbformat
from nbconvert import HTMLExporter
from nbconvert.preprocessors import ExecutePreprocessor

nb_path, out_dir, budget = sys.argv[1], sys.argv[2], int(sys.argv[3])
name = os.path.splitext(os.path.basename(nb_path))[0]
nb = nbformat.read(nb_path, as_version=4)
kernel = (nb.metadata.get("kernelspec") or {}).get("name") or "tslab"
deadline = time.monotonic() + budget


class Runner(ExecutePreprocessor):
    current = None

    def preprocess_cell(self, cell, resources, index):
        self.current = index
        return super().preprocess_cell(cell, resources, index)


ep = Runner(kernel_name=kernel, timeout=budget, startup_timeout=120,
            timeout_func=lambda cell: max(1, math.ceil(deadline - time.monotonic())))
error = None
try:
    ep.preprocess(nb, {"metadata": {"path": os.path.dirname(os.path.abspath(nb_path))}})
except Exception as e:  # CellExecutionError, CellTimeoutError, DeadKernelError, ...
    error = e

base = os.path.join(out_dir, name)
stem = base + ".failed" if error else base
for stale in [base + ".html"] if error else [base + ".failed.html", base + ".failed.ipynb"]:
    if os.path.exists(stale):
        os.remove(stale)  # no stale report next to this run's result
# The lab template minus its require.js and MathJax <script src> (a CDN URL with a conda nbconvert, /usr/share/javascript
# on Debian): reports must open offline with no request to another host. Our figures need neither (plotly.js is inlined
# once by src/present/nbdisplay.ts; the notebooks write maths in Unicode).
OFFLINE = """{%- extends 'index.html.j2' -%}
{%- block html_head_js_requirejs -%}{%- endblock html_head_js_requirejs -%}
{%- block html_head_js_mathjax -%}{%- endblock html_head_js_mathjax -%}
"""
exporter = HTMLExporter(extra_loaders=[jinja2.DictLoader({"sedlab_offline.html.j2": OFFLINE})],
                        template_file="sedlab_offline.html.j2")
body, _ = exporter.from_notebook_node(nb, resources={"metadata": {"name": name}})
with open(stem + ".html", "w", encoding="utf-8") as f:
    f.write(body)
if error is None:
    sys.exit(0)
nbformat.write(nb, stem + ".ipynb")

ansi = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")
err = sys.stderr
idx = ep.current
err.write(f"\n===== FAILED: {nb_path}" + (f", cell {idx + 1} of {len(nb.cells)}" if idx is not None else "") + " =====\n")
if type(error).__name__ == "CellTimeoutError":
    err.write(f"Timed out: the notebook used up its budget of {budget} s (SEDLAB_NB_TIMEOUT).\n")
elif type(error).__name__ == "DeadKernelError":
    err.write("The kernel died: see its stderr above. Usual causes: an unhandled promise rejection or an exception in\n"
              "a callback (tfjs-backend-wasm rethrows them, which kills the process), or out of memory.\n")
if idx is not None:
    cell = nb.cells[idx]
    src = cell.source.splitlines()
    err.write("----- cell source -----\n" + "\n".join(src[:25]) + ("\n..." if len(src) > 25 else "") + "\n")
    printed = False
    for o in cell.get("outputs", []):
        if o.get("output_type") == "stream" and o.get("name") == "stderr":
            err.write("----- cell stderr -----\n" if not printed else "")
            err.write(ansi.sub("", o.get("text", "")).rstrip("\n") + "\n")
            printed = True
        elif o.get("output_type") == "error":
            err.write(f"----- error -----\n{o.get('ename')}: {o.get('evalue')}\n")
            err.write(ansi.sub("", "\n".join(o.get("traceback", []))) + "\n")
            printed = True
    if not printed and type(error).__name__ not in ("CellTimeoutError", "DeadKernelError"):
        err.write(f"----- {type(error).__name__} -----\n{str(error).strip()}\n")
else:
    err.write(f"{type(error).__name__}: {error}\n")
err.write(f"(partial outputs: {stem}.html, {stem}.ipynb)\n")
sys.exit(1)
PY

echo "run-notebooks: preset=$preset, budget ${budget} s/notebook, out=$out"
echo "               python=$PY, kernel=$kernel_bin"
failed=()
t_all=$SECONDS
for nb in "${notebooks[@]}"; do
  rel="${nb#"$ROOT"/}"
  name="$(basename "$nb" .ipynb)"
  echo "--- $rel ..."
  t0=$(date +%s.%N)
  rc=0
  "$PY" -W ignore::DeprecationWarning -c "$DRIVER" "$nb" "$out" "$budget" || rc=$?
  dt=$(awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }')
  if ((rc == 0)); then
    echo "    ok      ${dt} s  -> $out/$name.html"
  else
    echo "    FAILED  ${dt} s  (rc $rc) -> $out/$name.failed.html"
    failed+=("$rel")
  fi
done
echo "run-notebooks: $((${#notebooks[@]} - ${#failed[@]}))/${#notebooks[@]} ok in $((SECONDS - t_all)) s"
if ((${#failed[@]})); then
  printf 'run-notebooks: FAILED: %s\n' "${failed[@]}" >&2
  exit 1
fi
