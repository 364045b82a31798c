#!/bin/sh
# The hall kiosk's screen: Chromium in kiosk mode on the page that follows the device loop.
# Run in the kiosk user's graphical session (e.g. ~/.config/autostart, or the xiaodian-kiosk-screen unit).
# The page address carries the device's screen key in its fragment (never sent to a server log);
# `xiaodian kiosk page-url` makes it from the device key, so nothing else needs to be copied.
set -eu
DEVICE=${DEVICE:-jiangdu-hall-1}
KEY_FILE=${KEY_FILE:-/etc/xiaodian/kiosk-$DEVICE.pem}
XIAODIAN=${XIAODIAN:-/opt/xiaodian/.venv/bin/xiaodian}
URL=$("$XIAODIAN" kiosk page-url --device "$DEVICE" --key-file "$KEY_FILE")
# A fresh profile each start: no saved pages, passwords or crash-restore bubbles for the next customer.
PROFILE=$(mktemp -d /tmp/xiaodian-screen.XXXXXX)
trap 'rm -rf "$PROFILE"' EXIT
exec chromium --kiosk --app="$URL" \
    --user-data-dir="$PROFILE" --no-first-run --noerrdialogs --disable-infobars \
    --disable-session-crashed-bubble --disable-translate --overscroll-history-navigation=0 \
    --autoplay-policy=no-user-gesture-required --check-for-update-interval=31536000
