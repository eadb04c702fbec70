#!/usr/bin/env bash
# Makes sure the Debian packages a make target needs are installed.
#   tools/ensure-deps.sh kernel|iso|qemu|host-test|fuzz|bench-i686 ...
# Missing packages are installed with apt-get (--no-install-recommends; via
# sudo when not root). When that is impossible, prints the exact command to
# run and exits 1.
set -euo pipefail

missing=()
need() { # need PACKAGE TEST...
	local pkg=$1; shift
	if ! "$@" >/dev/null 2>&1; then
		missing+=("$pkg")
	fi
}
have() { command -v "$1"; }
builtins_lib() {
	local lib
	lib=$(clang --target=i386-linux-gnu -print-libgcc-file-name -rtlib=compiler-rt) && test -f "$lib"
}
fuzzer_lib() {
	local dir
	dir=$(dirname "$(clang -print-libgcc-file-name -rtlib=compiler-rt)") && test -f "$dir/libclang_rt.fuzzer-x86_64.a"
}

# clang -m32 needs the i386 C library and gcc's 32-bit start files.
i386_libc() { test -f /usr/lib32/crt1.o; }
i386_gcc_files() {
	local f
	f=$(clang -m32 -print-file-name=crtbegin.o) && test -f "$f" && [ "$f" != crtbegin.o ]
}

for what in "$@"; do
	case $what in
	kernel)
		need clang have clang
		need lld have ld.lld
		need libclang-rt-dev builtins_lib
		;;
	iso)
		need grub-common have grub-mkrescue
		need grub-pc-bin test -d /usr/lib/grub/i386-pc
		need xorriso have xorriso
		need mtools have mformat
		;;
	qemu)
		need qemu-system-x86 have qemu-system-i386
		;;
	host-test)
		need clang have clang
		need libclang-rt-dev fuzzer_lib   # also brings the sanitizer runtimes
		need libcriterion-dev test -f /usr/include/criterion/criterion.h
		;;
	fuzz)
		need clang have clang
		need libclang-rt-dev fuzzer_lib
		;;
	bench-i686)
		need clang have clang
		need libc6-dev-i386 i386_libc
		need lib32gcc-12-dev i386_gcc_files
		;;
	*)
		echo "ensure-deps.sh: unknown group '$what'" >&2
		exit 2
		;;
	esac
done

[ ${#missing[@]} -eq 0 ] && exit 0
# Deduplicate, keeping order.
mapfile -t missing < <(printf '%s\n' "${missing[@]}" | awk '!seen[$0]++')

cmd="apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends ${missing[*]}"
if [ "$(id -u)" -eq 0 ]; then
	sudo=()
elif command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
	sudo=(sudo)
else
	echo "Missing Debian packages: ${missing[*]}" >&2
	echo "Install them with:" >&2
	echo "  sudo sh -c '$cmd'" >&2
	exit 1
fi

echo "Installing missing Debian packages: ${missing[*]}"
if ! "${sudo[@]}" sh -c "$cmd"; then
	echo "Installing failed. Run this yourself, then try again:" >&2
	echo "  sudo sh -c '$cmd'" >&2
	exit 1
fi
