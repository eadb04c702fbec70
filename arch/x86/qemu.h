/*
 * Leaving QEMU with a status through the isa-debug-exit device
 * (-device isa-debug-exit,iobase=0xf4,iosize=0x04). QEMU exits with
 * (value << 1) | 1, so it can never report 0: a triple fault under
 * -no-reboot exits 0, which is why only QEMU_EXIT_PASS counts as success.
 */
#ifndef MIO_ARCH_X86_QEMU_H
#define MIO_ARCH_X86_QEMU_H

#define QEMU_DEBUG_EXIT_PORT 0xf4
#define QEMU_EXIT_PASS 0x10 /* QEMU's status: 33 */
#define QEMU_EXIT_FAIL 0x11 /* QEMU's status: 35 */

/* Exits QEMU with the given value; halts forever on a machine without the device. */
__attribute__((noreturn)) void qemu_exit(unsigned value);

#endif
