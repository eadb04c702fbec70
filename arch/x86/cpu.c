#include "arch/x86/cpu.h"

#include "lib/string.h"

struct cpu_info boot_cpu;

void cpu_identify(struct cpu_info *info)
{
	uint32_t a, b, c, d;

	memset(info, 0, sizeof(*info));
	cpuid(0, &a, &b, &c, &d);
	info->max_leaf = a;
	memcpy(info->vendor + 0, &b, 4); /* the vendor string is EBX, EDX, ECX */
	memcpy(info->vendor + 4, &d, 4);
	memcpy(info->vendor + 8, &c, 4);
	info->vendor[12] = '\0';
	if (info->max_leaf < 1)
		return;

	cpuid(1, &a, &b, &c, &d);
	info->stepping = a & 0xf;
	info->model = (a >> 4) & 0xf;
	info->family = (a >> 8) & 0xf;
	if (info->family == 0xf)
		info->family += (a >> 20) & 0xff;
	if (info->family == 0x6 || info->family >= 0xf)
		info->model |= ((a >> 16) & 0xf) << 4;
	info->pse = d & CPUID_EDX_PSE;
	info->pae = d & CPUID_EDX_PAE;
	info->pge = d & CPUID_EDX_PGE;
	info->pse36 = d & CPUID_EDX_PSE36;
}
