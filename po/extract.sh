#!/bin/sh
# Extracts the messages meant for people from the CLI sources into a gettext template.
# Usage: po/extract.sh OUTPUT.pot  (the build's `update-pot` target and the staleness
# test both call this, so they cannot disagree). Sorted by file so the template changes
# only when a message does.
set -e
here=$(cd "$(dirname "$0")" && pwd)
cd "$here/.."
xgettext --language=C++ --from-code=UTF-8 --keyword=_ --keyword=N_ --boost \
    --add-comments=TRANSLATORS: --sort-by-file --package-name=omsgw \
    --msgid-bugs-address=omsgw@localhost --omit-header --no-wrap \
    --output="$1" $(cat po/POTFILES)
