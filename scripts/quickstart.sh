#!/usr/bin/env bash
# Quickstart: set up the checkout, train the quickstart model and render the quickstart notebook to HTML.
#
#   bash scripts/quickstart.sh
#
# 1. scripts/setup.sh (Node check, Jupyter pieces, npm ci, tslab kernel registration; idempotent)
# 2. sedlab train --preset quick --op add --seed 42   (skipped by the CLI if data/runs already has this run)
# 3. scripts/run-notebooks.sh --preset quick notebooks/00_quickstart.ipynb  ->  reports/00_quickstart.html
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
t0=$SECONDS
step() { printf '\n==== quickstart: %s  [+%d s]\n' "$1" $((SECONDS - t0)); }

step "1/3 setup"
bash scripts/setup.sh

step "2/3 train the quickstart model (preset quick, op add, seed 42)"
# --no-install: run this checkout's own `sedlab` bin, never fetch a package of that name from the registry.
npx --no-install sedlab train --preset quick --op add --seed 42

step "3/3 execute notebooks/00_quickstart.ipynb"
bash scripts/run-notebooks.sh --preset quick --out reports notebooks/00_quickstart.ipynb

report="$ROOT/reports/00_quickstart.html"
jp="$ROOT/.jupyter-env/share/jupyter"
printf '\n==== quickstart: done in %d s\n\n' $((SECONDS - t0))
cat <<EOF
Report (self-contained HTML, open it in any browser):
  $report
  file://$report

Open the notebooks interactively:
  With conda (JupyterLab, any OS):
    conda env create -f environment.yml && conda activate sedlab
    bash scripts/setup.sh
    JUPYTER_PATH="$jp" jupyter lab notebooks/
EOF
if [[ -f /etc/debian_version ]]; then
  cat <<EOF
  On Debian/Ubuntu without conda (classic Notebook; setup.sh installs it when run as root, else):
    sudo apt-get install -y jupyter-notebook
    JUPYTER_PATH="$jp" jupyter notebook notebooks/
EOF
fi
cat <<EOF
  Choose the "TypeScript" kernel (tslab). Each notebook has its own preset (00 and 05: quick, trained here;
  01-04: paper, from the cached runs in data/runs); SEDLAB_PRESET (test|quick|paper) overrides it, e.g.
  SEDLAB_PRESET=quick JUPYTER_PATH=... jupyter lab notebooks/
  Re-render every notebook headlessly:  bash scripts/run-notebooks.sh [--preset quick]
  Commit notebooks without outputs:     node scripts/strip-notebooks.mjs
EOF
