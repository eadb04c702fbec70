#include "arch/x86/qemu.h"

#include "arch/x86/cpu.h"
#include "arch/x86/io.h"

void qemu_exit(unsigned value)
{
	outl(QEMU_DEBUG_EXIT_PORT, value);
	cpu_halt_forever();
}
