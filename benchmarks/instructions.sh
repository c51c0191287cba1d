#!/usr/bin/env bash
# Instructions per call, counted by valgrind's callgrind: repeatable on a
# shared, noisy machine where nanosecond timings are not. Each statement
# runs N times in a function; an empty loop is subtracted.
#
#   bash benchmarks/instructions.sh [python]   (default: .venv/bin/python)
#
# Runs the same statements under .venv-ref (picoring 0.6.0) when it exists;
# statements that 0.6.0 lacks print "-".
set -euo pipefail
cd "$(dirname "$0")/.."
command -v valgrind >/dev/null || { echo "valgrind is required (apt-get install valgrind)" >&2; exit 1; }
N=20000
STMTS=(
  "pass"
  "r.capacity()"
  "r.get_readable_view()"
  "memoryview(b)"
  "r.push_bytes(d); r.pop_bytes(64)"
  "ba.extend(d); del ba[:64]"
  "l.get(500)"
  "l[500]"
  "ba[500]"
)

count() {  # python, statement -> total instructions
  local script
  script=$(mktemp)
  cat >"$script" <<PY
import picoring
def main():
    r = picoring.PicoRingByte(1 << 20); r.push_bytes(b"x" * 100)
    b = b"y" * 100; d = b"z" * 64
    l = picoring.PicoListByte(); l.extend(b"q" * 1000)
    ba = bytearray(b"q" * 1000)
    for _ in range($N):
        $2
main()
PY
  if ! "$1" "$script" >/dev/null 2>&1; then rm -f "$script"; echo "-"; return; fi
  valgrind --tool=callgrind --callgrind-out-file=/dev/null "$1" "$script" 2>&1 \
    | awk '/refs:/ {gsub(",", "", $4); print $4}'
  rm -f "$script"
}

per_call() {  # python -> prints one column
  local base v
  base=$(count "$1" "pass")
  for s in "${STMTS[@]:1}"; do
    v=$(count "$1" "$s")
    if [ "$v" = "-" ]; then echo "-"; else echo $(((v - base) / N)); fi
  done
}

OURS=${1:-.venv/bin/python}
mapfile -t A < <(per_call "$OURS")
if [ -x .venv-ref/bin/python ]; then mapfile -t B < <(per_call .venv-ref/bin/python); fi
printf "%-36s %12s %14s\n" "statement" "picoring" "picoring 0.6.0"
for i in "${!A[@]}"; do
  printf "%-36s %12s %14s\n" "${STMTS[$((i + 1))]}" "${A[$i]}" "${B[$i]:--}"
done
