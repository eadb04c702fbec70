#!/usr/bin/env bash
# The managers lift into another kernel with lib/ and two functions of its
# own (README, "Taking a manager into your own kernel"): links the kernel's
# objects of lib/ and mm/ alone and fails when they need anything else from
# the kernel than panic_at and kvprintf (the compiler runtime's 64-bit
# division helpers aside).
#   [KLD=ld.lld] tools/check-portable.sh OBJECT...
set -euo pipefail
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
"${KLD:-ld.lld}" -m elf_i386 -r -o "$tmp/portable.o" "$@"
need=$(nm -u "$tmp/portable.o" | awk '{print $2}' | grep -Ev '^__(u?div|u?mod)di3$' | sort | tr '\n' ' ')
if [ "$need" != "kvprintf panic_at " ]; then
	echo "portable: lib/ and mm/ need from the kernel: ${need:-nothing}(expected: kvprintf panic_at)"
	exit 1
fi
echo "portable: lib/ and mm/ need only panic_at and kvprintf from the kernel"
