#!/usr/bin/env bash
# Builds the pinned kube-apiserver, etcd and helm from the Go module proxy into
# a per-version cache folder and prints where they are:
#
#   KUBEBUILDER_ASSETS=<dir with kube-apiserver and etcd>
#   HELM=<path to helm>
#
# The pins live only in the go.mod files next to this script (one module per
# tool, so that Minimal Version Selection cannot drag one tool's dependencies
# onto another's). A tool is rebuilt only when no binary exists for its pinned
# version. Progress and timings go to stderr; stdout carries only the two
# lines above so callers can eval or parse them.
set -euo pipefail

# The tool modules stand alone; a workspace at the repository root must not
# pull them into its build list.
export GOWORK=off

tools_dir="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
cache_root="${XDG_CACHE_HOME:-$HOME/.cache}/meshguard/bin"

log() { printf 'build.sh: %s\n' "$*" >&2; }

# module_version DIR MODULE prints the version of MODULE selected in the tool
# module at DIR.
module_version() {
	(cd "${tools_dir}/$1" && go list -m -f '{{.Version}}' "$2")
}

# tool_package DIR prints the package named by the tool directive in DIR/go.mod.
tool_package() {
	(cd "${tools_dir}/$1" && go list tool)
}

# build_tool NAME VERSION DIR [go build flags...] builds the tool package of
# the module in DIR as NAME into ${cache_root}/NAME-VERSION/NAME unless that
# binary already exists.
build_tool() {
	local name="$1" version="$2" dir="$3"
	shift 3
	local dest="${cache_root}/${name}-${version}"
	if [[ -x "${dest}/${name}" ]]; then
		log "${name} ${version}: cached at ${dest}"
		return
	fi

	local pkg start tmp
	pkg="$(tool_package "${dir}")"
	start=${SECONDS}
	log "${name} ${version}: building ${pkg}; a cold build takes minutes"
	# Build next to the destination so the final rename stays on one file
	# system and is atomic; a crash leaves only a dot-directory behind.
	tmp="$(mktemp -d "${cache_root}/.${name}-${version}.XXXXXX")"
	if ! (cd "${tools_dir}/${dir}" && CGO_ENABLED=0 go build -trimpath "$@" -o "${tmp}/${name}" "${pkg}"); then
		rm -rf "${tmp}"
		log "${name} ${version}: build failed"
		return 1
	fi
	chmod 0755 "${tmp}"
	# A destination without a binary is debris from a manual edit; the
	# lock guarantees no other caller is filling it.
	rm -rf "${dest}"
	mv -T "${tmp}" "${dest}"
	log "${name} ${version}: built in $((SECONDS - start))s"
}

# link_assets DIR TARGET... makes DIR contain a symlink to each TARGET, swapping
# in the finished directory with a rename so readers never see it half-filled.
link_assets() {
	local dir="$1"
	shift
	if [[ -d "${dir}" ]]; then
		return
	fi
	local tmp target
	tmp="$(mktemp -d "${cache_root}/.assets.XXXXXX")"
	for target in "$@"; do
		ln -s "${target}" "${tmp}/$(basename "${target}")"
	done
	chmod 0755 "${tmp}"
	mv -T "${tmp}" "${dir}"
}

main() {
	local start=${SECONDS}
	mkdir -p "${cache_root}"

	# One lock for the whole cache: concurrent callers (parallel test
	# packages, CI jobs sharing a home) wait for the first builder and then
	# find every binary in place.
	exec 9>"${cache_root}/.lock"
	flock 9

	local kube_version etcd_version helm_version k8s_lib_version
	kube_version="$(module_version kube k8s.io/kubernetes)"
	etcd_version="$(module_version etcd go.etcd.io/etcd/server/v3)"
	helm_version="$(module_version helm helm.sh/helm/v3)"
	k8s_lib_version="$(module_version helm k8s.io/client-go)"

	# Without these the binaries report development versions
	# (v0.0.0-master, v3.22) because -trimpath builds carry no VCS data.
	local kube_minor="${kube_version#v1.}"
	kube_minor="${kube_minor%%.*}"
	local kube_ldflags="-s -w"
	local pkgs=(k8s.io/component-base/version k8s.io/client-go/pkg/version)
	local p
	for p in "${pkgs[@]}"; do
		kube_ldflags+=" -X ${p}.gitVersion=${kube_version} -X ${p}.gitMajor=1 -X ${p}.gitMinor=${kube_minor}"
		kube_ldflags+=" -X ${p}.gitTreeState=clean"
	done

	local helm_k8s_minor="${k8s_lib_version#v0.}"
	helm_k8s_minor="${helm_k8s_minor%%.*}"
	local helm_ldflags="-s -w -X helm.sh/helm/v3/internal/version.version=${helm_version}"
	helm_ldflags+=" -X helm.sh/helm/v3/internal/version.gitTreeState=clean"
	for p in helm.sh/helm/v3/pkg/lint/rules helm.sh/helm/v3/pkg/chartutil; do
		helm_ldflags+=" -X ${p}.k8sVersionMajor=1 -X ${p}.k8sVersionMinor=${helm_k8s_minor}"
	done

	build_tool kube-apiserver "${kube_version}" kube -ldflags "${kube_ldflags}"
	build_tool etcd "${etcd_version}" etcd -ldflags "-s -w"
	build_tool helm "${helm_version}" helm -ldflags "${helm_ldflags}"

	local assets="${cache_root}/envtest-${kube_version}-etcd-${etcd_version}"
	link_assets "${assets}" \
		"${cache_root}/kube-apiserver-${kube_version}/kube-apiserver" \
		"${cache_root}/etcd-${etcd_version}/etcd"

	log "done in $((SECONDS - start))s"
	printf 'KUBEBUILDER_ASSETS=%s\n' "${assets}"
	printf 'HELM=%s\n' "${cache_root}/helm-${helm_version}/helm"
}

main "$@"
