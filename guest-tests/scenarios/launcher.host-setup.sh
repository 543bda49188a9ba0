#!/bin/sh
# Host side of the launcher scenario, before boot: a file for the guest to read.
echo "written on the host" > "$1/from-host.txt"
