#!/usr/bin/env bash
# Installs the Debian packages edgesync needs to build, test and run the demo (the lists are in
# scripts/lib.sh, shared with the container build stage). Idempotent: skips apt when every package
# is already installed.
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
es_log_name install
apt_install_missing "${EDGESYNC_BUILD_PKGS[@]}" "${EDGESYNC_CHECK_PKGS[@]}"
