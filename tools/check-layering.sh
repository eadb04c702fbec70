#!/usr/bin/env bash
# The portable code (lib/, mm/) must not reach into the x86 layer or the
# kernel proper: it is compiled into host binaries as it is. Fails listing
# every offending #include.
set -u
bad=$(grep -nE '^[[:space:]]*#[[:space:]]*include[[:space:]]*[<"](arch|kernel)/' lib/*.[ch] mm/*.[ch] 2>/dev/null)
if [ -n "$bad" ]; then
	echo "layering: portable code includes arch/ or kernel/ headers:"
	echo "$bad"
	exit 1
fi
echo "layering: lib/ and mm/ include nothing from arch/ or kernel/"
