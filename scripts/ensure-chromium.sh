#!/usr/bin/env bash
# The browser tests drive Debian's chromium. Install it when missing and we may (root, apt);
# otherwise the browser tests skip and say why.
if command -v chromium >/dev/null 2>&1; then exit 0; fi
if [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1; then
  echo "Cài chromium (một lần) cho các kiểm thử trình duyệt…"
  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null) \
    || echo "Không cài được chromium: các kiểm thử trình duyệt sẽ bị bỏ qua."
else
  echo "Không có chromium và không thể cài: các kiểm thử trình duyệt sẽ bị bỏ qua."
fi
exit 0
