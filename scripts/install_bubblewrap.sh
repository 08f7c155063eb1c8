#!/usr/bin/env bash
# Install bubblewrap, the sandbox in which autograding runs every student kernel
# (course_lib/grading/sandbox.py; README.md, "The sandbox").
#
# Debian/Ubuntu package `bubblewrap` (command `bwrap`). Safe to run repeatedly: does nothing
# when bwrap is already there. Needs root (or sudo) for apt-get. Without bubblewrap grading
# still works, unsandboxed, with a loud warning.
set -euo pipefail

if command -v bwrap >/dev/null 2>&1; then
    echo "bubblewrap already installed: $(bwrap --version)"
    exit 0
fi

SUDO=""
if [ "$(id -u)" -ne 0 ]; then
    if command -v sudo >/dev/null 2>&1; then
        SUDO="sudo"
    else
        echo "install_bubblewrap.sh: not root and no sudo; install Debian's 'bubblewrap' package by hand" >&2
        exit 1
    fi
fi

export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -q
$SUDO apt-get install -y -q --no-install-recommends bubblewrap
bwrap --version
