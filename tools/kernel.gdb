# gdb script for `make debug`: connects to QEMU's gdb stub and stops in kmain.
# Use from the project root: gdb -x tools/kernel.gdb
set architecture i386
file build/kernel.elf
target remote localhost:1234
hbreak kmain
continue
