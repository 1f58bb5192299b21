#!/usr/bin/env bash
# Tools some tests need besides chromium, installed when missing and we may; otherwise those tests skip and say why.
#  - axe-core (npm) for the accessibility check of every mail template: .cache/npm/node_modules/axe-core
#  - LibreOffice (writer, calc) and poppler-utils for the DOCX/XLSX -> PDF -> page pictures checks
cd "$(dirname "$0")/.." || exit 0
if [ ! -f .cache/npm/node_modules/axe-core/axe.min.js ]; then
  if command -v npm >/dev/null 2>&1; then
    echo "Cài axe-core (một lần) cho kiểm thử khả năng truy cập của thư…"
    npm install --silent --no-audit --no-fund --prefix .cache/npm axe-core@4 >/dev/null 2>&1 \
      || echo "Không cài được axe-core: kiểm thử khả năng truy cập của thư sẽ bị bỏ qua."
  else
    echo "Không có npm: kiểm thử khả năng truy cập của thư sẽ bị bỏ qua."
  fi
fi
missing=()
command -v soffice >/dev/null 2>&1 || missing+=(libreoffice-writer libreoffice-calc fonts-liberation)
command -v pdftoppm >/dev/null 2>&1 || missing+=(poppler-utils)
if [ ${#missing[@]} -gt 0 ]; then
  if [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1; then
    echo "Cài ${missing[*]} (một lần) cho kiểm thử chuyển báo cáo sang PDF…"
    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
      "${missing[@]}" >/dev/null) || echo "Không cài được LibreOffice/poppler: kiểm thử PDF sẽ bị bỏ qua."
  else
    echo "Không có LibreOffice/poppler và không thể cài: kiểm thử PDF sẽ bị bỏ qua."
  fi
fi
exit 0
