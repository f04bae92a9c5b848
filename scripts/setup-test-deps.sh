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
# nats-server: tests/tests/cluster.rs runs a 3-server JetStream cluster (docs/cluster.md).
command -v nats-server >/dev/null 2>&1 || missing+=(nats-server)

# prometheus (Debian's package ships promtool too): tests/tests/prometheus.rs has the real
# Prometheus remote-write into Sextant and compares promtool's answers from both.
{ command -v prometheus >/dev/null 2>&1 && command -v promtool >/dev/null 2>&1; } || missing+=(prometheus)
# The OpenTelemetry Python SDK (PyPI): tests/tests/otlp.rs exports metrics to Sextant with it.
if command -v python3 >/dev/null 2>&1 \
    && ! python3 -c 'import opentelemetry.sdk, opentelemetry.exporter.otlp.proto.http' 2>/dev/null; then
    echo "setup-test-deps: installing opentelemetry-sdk opentelemetry-exporter-otlp-proto-http" >&2
    python3 -m pip install -q opentelemetry-sdk opentelemetry-exporter-otlp-proto-http \
        || python3 -m pip install -q --break-system-packages opentelemetry-sdk opentelemetry-exporter-otlp-proto-http
fi

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
