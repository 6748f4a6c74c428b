#!/usr/bin/env bash
# One-time (idempotent) setup of a sedlab checkout:
#   1. checks Node.js >= 20;
#   2. makes sure Jupyter can execute notebooks headlessly (nbconvert + nbclient + ipykernel): uses /usr/bin/jupyter
#      or a `jupyter` on PATH (e.g. the conda env from environment.yml); else, on Debian/Ubuntu as root, installs
#      Debian's packages with apt-get; else prints what to install and exits 1;
#   3. runs `npm ci` (or `npm install` without a lockfile) when node_modules is missing or older than the lockfile;
#   4. registers the tslab (TypeScript) kernel for THIS checkout in .jupyter-env/ (gitignored; kernel.json holds
#      absolute paths). scripts/run-notebooks.sh points JUPYTER_PATH there.
# Safe to re-run; every step says what it did. Works without a TTY (CI).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
say() { printf 'setup: %s\n' "$*"; }
die() {
  printf 'setup: ERROR: %s\n' "$1" >&2
  shift
  for line in "$@"; do printf '         %s\n' "$line" >&2; done
  exit 1
}

# --- 1. Node.js -----------------------------------------------------------------------------------------------
command -v node >/dev/null 2>&1 || die "Node.js is not installed (need >= 20)." \
  "conda: conda env create -f environment.yml && conda activate sedlab" \
  "or see https://nodejs.org/en/download (Node 20 or 22 LTS)"
node_major="$(node -p 'process.versions.node.split(".")[0]')"
((node_major >= 20)) || die "Node.js $(node --version) is too old (need >= 20)." \
  "conda: conda env create -f environment.yml && conda activate sedlab"
command -v npm >/dev/null 2>&1 || die "npm is missing (it ships with Node.js; on Debian: apt-get install npm)."
say "node $(node --version), npm $(npm --version)"

# --- 2. Jupyter ---------------------------------------------------------------------------------------------------
JUPYTER_MODULES='import nbconvert, nbclient, jupyter_client, ipykernel'
# shellcheck source=scripts/jupyter-python.sh
source "$ROOT/scripts/jupyter-python.sh"

APT_PACKAGES=(jupyter-nbconvert python3-nbclient jupyter-client jupyter-core python3-ipykernel)
# apt-get with retries: another apt/dpkg (unattended-upgrades, a parallel job) may hold the lock for a while.
apt_retry() {
  local try
  for try in 1 2 3 4 5 6; do
    if DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=120 "$@"; then return 0; fi
    say "apt-get $1 failed (try $try/6; dpkg/apt lock held?), retrying in 20 s"
    sleep 20
  done
  return 1
}

if PY="$(jupyter_python "$JUPYTER_MODULES")"; then
  say "jupyter: found (python $PY: $("$PY" -c 'import nbconvert, nbclient; print("nbconvert", nbconvert.__version__, "nbclient", nbclient.__version__)'))"
elif [[ -f /etc/debian_version ]] && [[ "$(id -u)" -eq 0 ]] && command -v apt-get >/dev/null 2>&1; then
  say "jupyter: missing -> apt-get install ${APT_PACKAGES[*]}"
  t0=$SECONDS
  apt_retry update -q || die "apt-get update failed"
  apt_retry install -y -q --no-install-recommends "${APT_PACKAGES[@]}" || die "apt-get install failed"
  PY="$(jupyter_python "$JUPYTER_MODULES")" || die "installed ${APT_PACKAGES[*]} but still cannot import them with /usr/bin/python3"
  say "jupyter: installed with apt in $((SECONDS - t0)) s (python $PY)"
else
  how=(
    "Install Jupyter (nbconvert + nbclient + ipykernel), then re-run: bash scripts/setup.sh"
    "  conda (any OS):  conda env create -f environment.yml && conda activate sedlab"
    "  pip:             python3 -m pip install jupyterlab nbconvert"
  )
  if [[ -f /etc/debian_version ]]; then
    how+=("  Debian/Ubuntu:   sudo apt-get update && sudo apt-get install -y --no-install-recommends ${APT_PACKAGES[*]}")
  fi
  die "Jupyter (nbconvert + nbclient + ipykernel) was not found." "${how[@]}"
fi

# --- 2b. Test extras (Debian, as root): headless Chromium for the browser tests, the classic Jupyter Notebook server
# for the UI test, and Slurm + munge for the single-node cluster test. Optional for users: without them those tests
# skip with a message saying what is missing. SEDLAB_SKIP_TEST_EXTRAS=1 skips this step.
TEST_EXTRAS=(chromium jupyter-notebook slurm-wlm munge)
if [[ "${SEDLAB_SKIP_TEST_EXTRAS:-0}" == 1 ]]; then
  say "test extras: skipped (SEDLAB_SKIP_TEST_EXTRAS=1)"
else
  missing=()
  for pkg in "${TEST_EXTRAS[@]}"; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
  done
  if ((${#missing[@]} == 0)); then
    say "test extras: ${TEST_EXTRAS[*]} present"
  elif [[ -f /etc/debian_version ]] && [[ "$(id -u)" -eq 0 ]] && command -v apt-get >/dev/null 2>&1; then
    say "test extras: missing ${missing[*]} -> apt-get install"
    t0=$SECONDS
    apt_retry update -q || die "apt-get update failed"
    apt_retry install -y -q --no-install-recommends "${missing[@]}" || die "apt-get install ${missing[*]} failed"
    say "test extras: installed in $((SECONDS - t0)) s"
  else
    say "test extras: missing ${missing[*]} (not root on Debian: the browser and Slurm tests will skip and say so)"
  fi
fi

# --- 2c. A BLAS for the matrix products (src/runs/blas.ts): Debian's OpenBLAS as root; elsewhere say how. Never an
# error: without one, wasm's own matmul runs. OPENBLAS_CORETYPE is left as the machine has it.
libs="$(ldconfig -p 2>/dev/null || true)"
if grep -qE 'lib(openblas|cblas)\.so' <<<"$libs"; then
  say "blas: $(grep -oE 'lib(openblas|cblas)\.so[.0-9]*' <<<"$libs" | sort -u | tr '\n' ' ')found"
elif [[ -n "${CONDA_PREFIX:-}" ]] && ls "$CONDA_PREFIX"/lib/lib{openblas,mkl_rt,cblas}* >/dev/null 2>&1; then
  say "blas: found in the conda env $CONDA_PREFIX"
elif [[ "$(uname)" == Darwin ]]; then
  say "blas: macOS Accelerate (built in)"
elif [[ -f /etc/debian_version ]] && [[ "$(id -u)" -eq 0 ]] && command -v apt-get >/dev/null 2>&1; then
  say "blas: none -> apt-get install libopenblas0"
  apt_retry update -q || die "apt-get update failed"
  apt_retry install -y -q --no-install-recommends libopenblas0 || die "apt-get install libopenblas0 failed"
else
  say "blas: none found; matrix products run on wasm's kernel (2-5x slower). For the speed:"
  say "      Debian/Ubuntu: sudo apt-get install libopenblas0 | conda: conda install openblas | macOS: built in"
fi

# --- 3. npm dependencies ------------------------------------------------------------------------------------------
stamp="node_modules/.package-lock.json"
why=""
if [[ ! -d node_modules || ! -f "$stamp" ]]; then
  why="node_modules is missing"
elif [[ -f package-lock.json && package-lock.json -nt "$stamp" ]]; then
  why="package-lock.json is newer than node_modules"
elif [[ package.json -nt "$stamp" ]]; then
  why="package.json is newer than node_modules"
elif [[ ! -x node_modules/.bin/tslab ]]; then
  why="node_modules/.bin/tslab is missing"
fi
if [[ -n "$why" ]]; then
  t0=$SECONDS
  if [[ -f package-lock.json ]]; then
    say "npm: $why -> npm ci"
    npm ci --no-audit --no-fund
  else
    say "npm: $why (no package-lock.json) -> npm install"
    npm install --no-audit --no-fund
  fi
  say "npm: done in $((SECONDS - t0)) s"
else
  say "npm: node_modules up to date (skipped npm ci)"
fi
[[ -x node_modules/.bin/tslab ]] || die "node_modules/.bin/tslab is missing after npm install (is tslab in package.json?)"

# --- 4. tslab kernel ------------------------------------------------------------------------------------------------
prefix="$ROOT/.jupyter-env"
kernel_json="$prefix/share/jupyter/kernels/tslab/kernel.json"
had_kernel=no
[[ -f "$kernel_json" ]] && grep -qF "\"$ROOT/node_modules/.bin/tslab\"" "$kernel_json" && had_kernel=yes
node_modules/.bin/tslab install --python "$PY" --binary "$ROOT/node_modules/.bin/tslab" --prefix "$prefix" >/dev/null
[[ -f "$kernel_json" ]] || die "tslab install did not write $kernel_json"
# The kernel's node gets the V8 flags every training process uses (src/util/nodeFlags.ts: ~28% less CPU time).
NODE_FLAGS="--max-semi-space-size=32"
add_node_flags() {
  node -e 'const fs = require("fs"); const [f, flags] = process.argv.slice(1);
    const k = JSON.parse(fs.readFileSync(f, "utf8")); k.env = { ...(k.env ?? {}), NODE_OPTIONS: flags };
    fs.writeFileSync(f, JSON.stringify(k, null, 1));' "$1" "$NODE_FLAGS"
}
add_node_flags "$kernel_json"
# (capture first: `cmd | grep -q` under pipefail fails when grep exits early and cmd gets SIGPIPE)
specs="$(JUPYTER_PATH="$prefix/share/jupyter" "$PY" -m jupyter kernelspec list 2>/dev/null || true)"
if grep -qw tslab <<<"$specs"; then
  [[ $had_kernel == yes ]] && say "kernel: tslab kernel re-registered in .jupyter-env/" ||
    say "kernel: registered tslab (TypeScript) + jslab kernels in .jupyter-env/"
else
  die "jupyter kernelspec list does not show tslab with JUPYTER_PATH=$prefix/share/jupyter"
fi

# In a conda env (environment.yml), also register the kernel in the env itself, so `jupyter lab` finds it with no
# JUPYTER_PATH (recipe §7: `tslab install --sys-prefix`).
if [[ -n "${CONDA_PREFIX:-}" && "$PY" == "$CONDA_PREFIX"/* ]]; then
  node_modules/.bin/tslab install --python "$PY" --binary "$ROOT/node_modules/.bin/tslab" --sys-prefix >/dev/null &&
    add_node_flags "$CONDA_PREFIX/share/jupyter/kernels/tslab/kernel.json" &&
    say "kernel: also registered in the conda env $CONDA_PREFIX (jupyter lab finds it directly)"
fi

say "ready. Next:"
say "  bash scripts/run-notebooks.sh           # execute notebooks/ -> reports/*.html"
say "  JUPYTER_PATH=\"$prefix/share/jupyter\" jupyter lab notebooks/   # interactive (needs JupyterLab)"
