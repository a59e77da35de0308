#!/usr/bin/env bash
# Lint and render every chart, offline, and check what they render.
#
#   charts/check.sh            (HELM=/path/to/helm to use another binary)
#
# 1. charts/xinyu/files/ must match infra/ (render_infra.py --check).
# 2. In a temporary copy of charts/ (nothing generated lands in the repository): for every
#    service chart, `helm dependency build` (file:// only, no repositories), `helm lint --strict`
#    and `helm template` with the umbrella's global values; then the same for the umbrella
#    with its default values (the services), values-data-plane.yaml (the operators' resources)
#    and everything at once (no two objects may collide).
# 3. Every rendering goes through validate_rendered.py: YAML documents, each with apiVersion,
#    kind and metadata.name, and the platform's rules for workloads.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
helm=${HELM:-$root/.cache/bin/helm}
if [[ ! -x $helm ]]; then
  helm=$(command -v helm || true)
fi
if [[ -z $helm || ! -x $helm ]]; then
  echo "charts/check.sh: no helm; install it with:" >&2
  echo "  GOBIN=$root/.cache/bin GOFLAGS=-mod=mod go install helm.sh/helm/v3/cmd/helm@v3.22.0" >&2
  exit 1
fi
py=(uv run --frozen --quiet python)

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
# Helm's own state stays in the temporary directory: no repositories, no network, no ~/.config.
export HELM_CONFIG_HOME=$tmp/helm/config HELM_CACHE_HOME=$tmp/helm/cache HELM_DATA_HOME=$tmp/helm/data
export HELM_REPOSITORY_CONFIG=$tmp/helm/repositories.yaml HELM_REPOSITORY_CACHE=$tmp/helm/repository

"${py[@]}" charts/xinyu/render_infra.py --check

cp -r charts "$tmp/charts"
rm -rf "$tmp"/charts/*/charts "$tmp"/charts/*/Chart.lock "$tmp"/charts/*/__pycache__
work=$tmp/charts
globals=$work/xinyu/values.yaml

validate() { # <label> <min objects>: reads a rendering on stdin
  "${py[@]}" charts/validate_rendered.py --source "$1" --min-documents "$2"
}

echo "== xinyu-lib"
"$helm" lint --strict --quiet "$work/xinyu-lib"

services=()
for chart in "$work"/*/Chart.yaml; do
  name=$(basename "$(dirname "$chart")")
  [[ $name == xinyu-lib || $name == xinyu ]] && continue
  services+=("$name")
done
for name in "${services[@]}"; do
  echo "== $name"
  grep -q "repository: file://../$name\$" "$work/xinyu/Chart.yaml" \
    || { echo "charts/check.sh: charts/xinyu does not depend on $name" >&2; exit 1; }
  "$helm" dependency build --skip-refresh "$work/$name" >/dev/null
  "$helm" lint --strict --quiet "$work/$name" -f "$globals"
  "$helm" template "$name" "$work/$name" -f "$globals" | validate "$name" 5
done

echo "== xinyu (umbrella)"
"$helm" dependency build --skip-refresh "$work/xinyu" >/dev/null
"$helm" lint --strict --quiet "$work/xinyu"
"$helm" lint --strict --quiet "$work/xinyu" -f "$work/xinyu/values-data-plane.yaml"
"$helm" template xinyu "$work/xinyu" | validate "xinyu (default values: the services)" 10
"$helm" template xinyu-data "$work/xinyu" -f "$work/xinyu/values-data-plane.yaml" \
  | validate "xinyu (values-data-plane.yaml)" 10
"$helm" template xinyu "$work/xinyu" --set dataPlane.kafka.enabled=true \
  --set dataPlane.kafkaTopics.enabled=true --set dataPlane.postgres.enabled=true \
  --set dataPlane.keycloak.enabled=true | validate "xinyu (everything in one release)" 20

echo "charts/check.sh: all charts lint and render"
