#!/usr/bin/env bash
# test/gateway/console.sh: the HQ console in a browser. Installs Debian's
# Chromium when missing (as root), provisions the shop of fixture.sql with a
# day of sales (console_data.sql), starts PostGraphile serving the console
# and runs console_check.mjs in headless Chromium through playwright-core.
set -euo pipefail
source "$(dirname "$0")/lib/serve.sh"
CHROMIUM="${CHROMIUM:-$(command -v chromium || true)}"
if [ -z "$CHROMIUM" ]; then
    if [ "$(id -u)" -eq 0 ]; then
        { apt-get update -q && apt-get install -y -q chromium; } >/tmp/commerce-chromium-apt.log 2>&1 ||
            bail "install Debian's chromium" /tmp/commerce-chromium-apt.log
        CHROMIUM="$(command -v chromium)"
    else
        bail "Chromium is needed (apt-get install chromium)"
    fi
fi
export CHROMIUM
gateway_setup gw_console
psql -X -q -At -v ON_ERROR_STOP=1 -f "$DIR/console_data.sql" >"$DIR/fixture.log" 2>&1 || bail "console data" "$DIR/fixture.log"
gateway_start gw_console
node "$DIR/console_check.mjs"
