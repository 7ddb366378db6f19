#!/usr/bin/env bash
# The whole test suite on a fresh machine: installs what the tests need (moto_server, the AWS
# emulator, into .venv) and runs every test.
set -euo pipefail
cd "$(dirname "$0")/.."
MOTO_VERSION=5.2.5
if ! .venv/bin/python -c "import moto, sys; sys.exit(moto.__version__ != '$MOTO_VERSION')" 2>/dev/null; then
  echo "installing moto[server]==$MOTO_VERSION into .venv" >&2
  python3 -m venv .venv
  .venv/bin/pip install --quiet --disable-pip-version-check "moto[server]==$MOTO_VERSION"
fi
export GITFLEET_MOTO_SERVER="$PWD/.venv/bin/moto_server"
cargo test --all-features "$@"
