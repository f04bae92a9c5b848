#!/usr/bin/env bash
# Installs the Debian packages the test suite needs, only when they are missing, so it is
# cheap to run before every test run:
#   - chromium: the browser tests (tests/tests/browser.rs) drive it headless;
#   - fonts-dejavu-core: the source of the font embedded in ui/fonts/ (kept installed so
#     the vendored copy can be checked against it).
# Works as root, non-interactively; with sudo otherwise.
set -euo pipefail
export DEBIAN_FRONTEND=noninteractive

missing=()
command -v chromium >/dev/null 2>&1 || [ -x /usr/bin/chromium ] || missing+=(chromium)
[ -f /usr/share/fonts/truetype/dejavu/DejaVuSans.ttf ] || missing+=(fonts-dejavu-core)
# prometheus-alertmanager: tests/tests/alerting.rs checks alerts arrive in a real Alertmanager.
[ -x /usr/bin/prometheus-alertmanager ] || missing+=(prometheus-alertmanager)

if [ ${#missing[@]} -eq 0 ]; then
    exit 0
fi

sudo=()
if [ "$(id -u)" -ne 0 ]; then
    sudo=(sudo -n)
fi
echo "setup-test-deps: installing ${missing[*]}" >&2
"${sudo[@]}" apt-get update -q
"${sudo[@]}" apt-get install -y -q --no-install-recommends "${missing[@]}"
