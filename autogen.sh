#!/bin/sh
# Generate configure and Makefile.in from a git checkout.
set -e
test -f fcgi-app/main.c || { echo "autogen.sh: run me from the top of the regonce tree" >&2; exit 1; }
autoreconf --force --install
