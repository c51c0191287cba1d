#!/usr/bin/env bash
# The pytest suite under valgrind memcheck, against the release extension
# that `make build` put in .venv (`make valgrind` runs this). Every Python
# process the tests start runs under memcheck too. Extra arguments go to
# pytest, e.g. `bash tests/valgrind.sh tests/test_ring.py`.
#
# PICORING_SLOW=1 tells the tests they run 20-50x slower than usual: the
# longest loops shrink and subprocess timeouts stretch. Logs, one per
# process: target/valgrind/<pid>.log. Exits non-zero if memcheck reported
# any error, or definite leak, whose stack passes through picoring
# (tests/valgrind_report.py; CPython's own reports are listed, not fatal).
set -euo pipefail
cd "$(dirname "$0")/.."
command -v valgrind >/dev/null || { echo "valgrind is not installed (apt-get install valgrind)"; exit 2; }
rm -rf target/valgrind && mkdir -p target/valgrind
export PYTHONMALLOC=malloc  # memcheck then sees every Python allocation
export PICORING_SLOW=1
export HYPOTHESIS_PROFILE=dev
status=0
valgrind --tool=memcheck --trace-children=yes \
    --leak-check=full --show-leak-kinds=definite --num-callers=40 \
    --log-file=target/valgrind/%p.log \
    .venv/bin/python -m pytest -p no:cacheprovider --timeout=0 -q "$@" || status=$?
.venv/bin/python tests/valgrind_report.py target/valgrind || exit 1
exit "$status"
