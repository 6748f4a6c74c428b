# Sourced by scripts/setup.sh and scripts/run-notebooks.sh.
# jupyter_python MODULES: prints the python that runs jupyter and can import MODULES (a Python import
# statement): /usr/bin/jupyter's first (Debian; a pyenv python3 may shadow it on PATH), then the `jupyter` on
# PATH (conda env), then plain python3s. SEDLAB_PYTHON, when set, is tried first.
jupyter_python() {
  local modules="$1" j py cands=()
  [[ -n "${SEDLAB_PYTHON:-}" ]] && cands+=("$SEDLAB_PYTHON")
  for j in /usr/bin/jupyter "$(command -v jupyter 2>/dev/null || true)"; do
    [[ -n "$j" && -f "$j" ]] || continue
    py="$(head -n1 "$j" | sed -n 's/^#![[:space:]]*//p')"
    case "$py" in */env\ *) py="$(command -v "${py##* }" 2>/dev/null || true)" ;; *) py="${py%% *}" ;; esac
    [[ -n "$py" ]] && cands+=("$py")
  done
  cands+=(/usr/bin/python3 python3)
  for py in "${cands[@]}"; do
    if "$py" -c "$modules" >/dev/null 2>&1; then
      printf '%s\n' "$py"
      return 0
    fi
  done
  return 1
}
