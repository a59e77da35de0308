#!/usr/bin/env bash
# Regenerates the Python code of every proto under proto/ into shared/contracts/src.
# The proto path equals the import path (xinyu/identity/v1/... -> xinyu.identity.v1), so
# generated modules import each other without rewriting. Run through `make proto`.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(dirname "$here")
out="${1:-$root/shared/contracts/src}"
venv_bin="$root/.venv/bin"

find "$out/xinyu" -mindepth 1 \( -name '*_pb2*.py' -o -name '*_pb2*.pyi' \) -delete 2>/dev/null || true
mapfile -t protos < <(cd "$here" && find xinyu -name '*.proto' | LC_ALL=C sort)
PATH="$venv_bin:$PATH" "$venv_bin/python" -m grpc_tools.protoc \
  -I "$here" \
  --python_out="$out" \
  --grpc_python_out="$out" \
  --mypy_out="$out" \
  --mypy_grpc_out="$out" \
  "${protos[@]}" 2> >(grep -v '^Writing mypy to' >&2)

# Every generated folder is a regular package so mypy and the build backend both see it.
find "$out/xinyu" -type d -exec sh -c 'for d; do [ -f "$d/__init__.py" ] || : > "$d/__init__.py"; done' _ {} +
