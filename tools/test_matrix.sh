#!/usr/bin/env bash
# Installs the abi3 wheel in target/wheels (from `make wheel`) into a fresh
# virtualenv of each Python (3.11, 3.12, 3.13) and runs the pytest suite
# from a copy of the tests outside the source tree, so that the installed
# package is tested, not python/picoring. Then builds the sdist with pip in
# one more fresh virtualenv (the newest Python found) and smoke-tests it.
# Interpreters are found as pythonX.Y on PATH or through pyenv; one that is
# missing is reported and skipped, visibly.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
work="$root/target/test-matrix"
# shellcheck disable=SC2012 # newest first; the names are ours
wheel="$(ls -t "$root"/target/wheels/picoring-*-abi3-*.whl 2>/dev/null | head -1 || true)"
# shellcheck disable=SC2012
sdist="$(ls -t "$root"/target/wheels/picoring-*.tar.gz 2>/dev/null | head -1 || true)"
if [ -z "$wheel" ] || [ -z "$sdist" ]; then
    echo "test-matrix: no abi3 wheel or no sdist in target/wheels: run \`make wheel\` first (a wheel that failed its check is in target/wheels/rejected/)"
    exit 1
fi
deps=(pytest pytest-timeout hypothesis numpy psutil typing_extensions matplotlib)

find_python() {  # prints the interpreter for version $1, or nothing
    local v="$1" full
    if command -v "python$v" >/dev/null 2>&1 && "python$v" -c "" 2>/dev/null; then
        command -v "python$v"
    elif command -v pyenv >/dev/null 2>&1; then
        full="$(pyenv versions --bare 2>/dev/null | grep -E "^$v(\.|$)" | tail -1 || true)"
        if [ -n "$full" ]; then PYENV_VERSION="$full" pyenv which python; fi
    fi
}

# Imports picoring from the virtualenv (never from the source tree) and uses
# a ring: run from a directory outside the tree.
smoke='
import sys, picoring
assert sys.prefix in picoring.__file__, picoring.__file__
r = picoring.PicoRingByte(4096)
assert r.push_bytes(b"hello")
v = r.get_readable_view()
assert bytes(v) == b"hello"
v.release()
r.advance_tail(5)
assert len(r) == 0
print("smoke: ok,", picoring.__file__)
'

status=0
summary=()
newest=""
for v in 3.11 3.12 3.13; do
    py="$(find_python "$v")"
    if [ -z "$py" ]; then
        echo "SKIPPED test-matrix Python $v: no interpreter found (pythonX.Y or pyenv)"
        summary+=("Python $v: SKIPPED (no interpreter)")
        continue
    fi
    newest="$py"
    SECONDS=0
    echo "== Python $v ($("$py" -c 'import platform; print(platform.python_version())'), $py) with $(basename "$wheel")"
    rm -rf "${work:?}/$v" && mkdir -p "$work/$v" && : > "$work/$v/pytest.log"
    "$py" -m venv "$work/$v/venv"
    vpy="$work/$v/venv/bin/python"
    "$vpy" -m pip install --quiet --no-index --no-deps --find-links "$(dirname "$wheel")" "$wheel"
    "$vpy" -m pip install --quiet "${deps[@]}"
    cp -r "$root/tests" "$root/examples" "$root/benchmarks" "$root/README.md" "$root/pyproject.toml" "$work/$v/"
    result=PASSED
    (cd "$work/$v" && "$vpy" -c "$smoke" && "$vpy" -m pytest -q -p no:cacheprovider tests 2>&1 | tee pytest.log) || { status=1; result=FAILED; }
    summary+=("Python $v: $result, $(tail -1 "$work/$v/pytest.log" 2>/dev/null | tr -d '=' | sed 's/^ *//;s/ *$//') (${SECONDS} s)")
done

if [ -z "$newest" ]; then
    echo "SKIPPED test-matrix sdist: no interpreter found"
    summary+=("sdist: SKIPPED (no interpreter)")
else
    SECONDS=0
    echo "== sdist $(basename "$sdist") built by pip with $newest"
    rm -rf "${work:?}/sdist" && mkdir -p "$work/sdist"
    "$newest" -m venv "$work/sdist/venv"
    # Cargo's dependencies are cached between runs; the package itself is
    # built from the unpacked sdist, as `pip install picoring-*.tar.gz` does.
    result=PASSED
    if CARGO_TARGET_DIR="$root/target/sdist-build" \
        "$work/sdist/venv/bin/python" -m pip install --quiet "$sdist"; then
        (cd "$work/sdist" && "$work/sdist/venv/bin/python" -c "$smoke") || { status=1; result=FAILED; }
    else
        status=1; result="FAILED (pip install)"
    fi
    summary+=("sdist with $("$newest" -c 'import platform; print(platform.python_version())'): $result, pip install + smoke check (${SECONDS} s)")
fi

echo "== test-matrix summary"
printf '  %s\n' "${summary[@]}"
exit $status
