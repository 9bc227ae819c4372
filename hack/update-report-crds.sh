#!/usr/bin/env bash
# Copies the policy report CRDs the chart can install (policyReports.installCRDs)
# from the Go modules that publish them, at the versions pinned below, into
# deploy/charts/meshguard/files/crds. test/chart checks the copies still equal
# these sources. Both are Apache-2.0 (see files/crds/README.md).
set -euo pipefail
cd "$(dirname "$0")/.."

# module@version path-in-module
sources=(
	"github.com/kyverno/kyverno@v1.19.1 config/crds/policyreport/wgpolicyk8s.io_policyreports.yaml"
	"github.com/kyverno/kyverno@v1.19.1 config/crds/policyreport/wgpolicyk8s.io_clusterpolicyreports.yaml"
	"github.com/openreports/reports-api@v0.2.1 config/crd/openreports.io_reports.yaml"
	"github.com/openreports/reports-api@v0.2.1 config/crd/openreports.io_clusterreports.yaml"
)

dest=deploy/charts/meshguard/files/crds
tmp="$(mktemp -d)"
trap 'rm -rf "${tmp}"' EXIT
for s in "${sources[@]}"; do
	read -r mod path <<<"${s}"
	dir="$(cd "${tmp}" && GOFLAGS= go mod download -json "${mod}" | sed -n 's/^\t"Dir": "\(.*\)",$/\1/p')"
	cp "${dir}/${path}" "${dest}/$(basename "${path}")"
	chmod 0644 "${dest}/$(basename "${path}")"
done
