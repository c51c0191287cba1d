#!/usr/bin/env bash
# Installs the abi3 wheel in target/wheels into a fresh virtualenv of each
# Python (3.11, 3.12, 3.13) and runs the pytest suite from a copy of the
# tests outside the source tree, so that the installed package is tested,
# not python/picoring. Interpreters are found as pythonX.Y on PATH or
# through pyenv; one that is missing is reported and skipped, visibly.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
wheel="$(ls -t "$root"/target/wheels/picoring-*-abi3-*.whl | head -1)"
work="$root/target/test-matrix"
status=0
for v in 3.11 3.12 3.13; do
    py=""
    if command -v "python$v" >/dev/null 2>&1 && "python$v" -c "" 2>/dev/null; then
        py="$(command -v "python$v")"
    elif command -v pyenv >/dev/null 2>&1; then
        full="$(pyenv versions --bare 2>/dev/null | grep -E "^$v(\.|$)" | tail -1 || true)"
        [ -n "$full" ] && py="$(PYENV_VERSION="$full" pyenv which python)"
    fi
    if [ -z "$py" ]; then
        echo "SKIPPED test-matrix Python $v: no interpreter found (pythonX.Y or pyenv)"
        continue
    fi
    echo "== Python $v ($py) with $(basename "$wheel")"
    rm -rf "$work/$v" && mkdir -p "$work/$v"
    "$py" -m venv "$work/$v/venv"
    "$work/$v/venv/bin/python" -m pip install --quiet "$wheel" pytest pytest-timeout hypothesis numpy psutil typing_extensions
    cp -r "$root/tests" "$root/examples" "$root/benchmarks" "$root/README.md" "$work/$v/"
    (cd "$work/$v" && "$work/$v/venv/bin/python" -m pytest -q -p no:cacheprovider tests) || status=1
done
exit $status
