#!/usr/bin/env bash
# Validates the Kubernetes manifests of deploy/k8s offline, from any directory:
#   1. kubernetes-validate --strict (the schemas ship inside the package; no cluster, no network)
#      against the oldest Kubernetes these manifests support (1.30: the preStop sleep action is
#      on by default from there) and the newest the pinned kubernetes-validate bundles;
#   2. check_manifests.py: what the schemas cannot say (one replica per SQLite writer, probes,
#      endpoints, only CONTRACT §2 variables, ...).
# Exit 0 when both pass, 1 when one fails, 77 when kubernetes-validate is not installed
# (deploy/local/test-tools.sh installs it into .venv).
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/../.." && pwd)
validator=$root/.venv/bin/kubernetes-validate
python=$root/.venv/bin/python
versions=(1.30 1.37)

if [ ! -x "$validator" ] || [ ! -x "$python" ]; then
  echo "check.sh: $validator is missing; run deploy/local/test-tools.sh" >&2
  exit 77
fi

# kustomization.yaml is kustomize's list, not a Kubernetes object: check_manifests.py checks it.
manifests=()
for file in "$here"/*.yaml; do
  [ "$(basename "$file")" = kustomization.yaml ] || manifests+=("$file")
done

args=(--strict)
for version in "${versions[@]}"; do args+=(-k "$version"); done
status=0
output=$("$validator" "${args[@]}" "${manifests[@]}" 2>&1) || status=$?
printf '%s\n' "$output" | sed "s|$root/||g"
# An unknown kind or apiVersion is only a WARN to kubernetes-validate, and exits 0: here it fails.
if [ "$status" -ne 0 ] || grep -qv '^INFO ' <<<"$output"; then
  echo "check.sh: schema validation failed:" >&2
  grep -v '^INFO ' <<<"$output" | sed "s|$root/||g" | head -n 5 >&2
  exit 1
fi

"$python" "$here/check_manifests.py" "$here" || exit 1
echo "check.sh: deploy/k8s is valid for Kubernetes ${versions[*]}"
