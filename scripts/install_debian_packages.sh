#!/usr/bin/env bash
# Install the Debian/Ubuntu packages the instructor tools and the tests use, once:
#   chromium, fonts-dejavu-core  headless Chromium for the browser tests (tests/browser/) and the PDF
#                                handouts (course_lib/slides.py); Playwright's own browser download is
#                                never used
#   bubblewrap                   the sandbox (`bwrap`) in which autograding runs every student kernel
#                                (course_lib/grading/sandbox.py; README.md, "The sandbox"); without it
#                                grading still works, unsandboxed, with a loud warning
#
# Installs only what is missing, so it is safe to run repeatedly. Needs root (or sudo) for apt-get.
set -euo pipefail

missing=()
[ -x /usr/bin/chromium ] || missing+=(chromium fonts-dejavu-core)
command -v bwrap >/dev/null 2>&1 || missing+=(bubblewrap)

if [ "${#missing[@]}" -gt 0 ]; then
    SUDO=""
    if [ "$(id -u)" -ne 0 ]; then
        if command -v sudo >/dev/null 2>&1; then
            SUDO="sudo"
        else
            echo "install_debian_packages.sh: not root and no sudo; install Debian's ${missing[*]} by hand" >&2
            exit 1
        fi
    fi
    export DEBIAN_FRONTEND=noninteractive
    $SUDO apt-get update -q
    $SUDO apt-get install -y -q --no-install-recommends "${missing[@]}"
fi

echo "chromium: $(/usr/bin/chromium --version 2>/dev/null || echo /usr/bin/chromium)"
echo "bubblewrap: $(bwrap --version)"
