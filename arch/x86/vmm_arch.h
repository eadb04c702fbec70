/*
 * The x86 side of the virtual memory manager: the instructions and
 * registers mm/vmm.c reaches through struct vmm_machine_ops, the CPUID
 * paging features it needs as struct vmm_caps, and switching paging on.
 *
 * Phase-2 boot order (interrupts stay as they are throughout):
 *   x86_paging_caps(&caps);                     CPUID: PSE, PGE, PSE-36, MAXPHYADDR
 *   vmm_init(&kernel_vmm, &(struct vmm_config){
 *           .machine = &x86_vmm_machine, .machine_ctx = NULL,
 *           .frames = <PMM-backed frame ops>, .caps = caps });
 *   vmm_protect() page 0; vmm_map_protected() every region the kernel uses;
 *   paging_enable(vmm_directory_phys(&kernel_vmm), &caps);
 * From then on the VMM reaches tables through the recursive slot.
 */
#ifndef MIO_ARCH_X86_VMM_ARCH_H
#define MIO_ARCH_X86_VMM_ARCH_H

#include "lib/types.h"
#include "mm/vmm.h"

/* The machine for struct vmm_config (its ctx is unused: pass NULL). */
extern const struct vmm_machine_ops x86_vmm_machine;

/* invlpg: drops the TLB entry for the page holding virt. */
void arch_invlpg(virt_addr_t virt);

/* Loads CR3 with a page directory (4 KiB aligned, below 4 GiB; panics otherwise). */
void arch_load_cr3(phys_addr_t directory_phys);

/*
 * Fills *caps from CPUID: PSE, PGE, PSE-36 and the physical address width a
 * 4 MiB page may use (min(40, MAXPHYADDR) with PSE-36, else 32). MAXPHYADDR
 * comes from CPUID 0x80000008 when the CPU has it, else 36 with PAE or
 * PSE-36, else 32 (Intel SDM vol. 3A, 4.1.4).
 */
void x86_paging_caps(struct vmm_caps *caps);

/*
 * Turns paging on with the directory at directory_phys, which must already
 * map the running code, its stack and everything the kernel touches next
 * (identity). Checks with CPUID that the CPU has every feature in *caps
 * (panics naming it otherwise) and that CR4.PAE is clear (this is 32-bit
 * paging), then, each read-modify-write so other bits survive: sets CR4.PSE
 * when caps->pse, loads CR3, sets CR0.PG and CR0.WP, and last sets CR4.PGE
 * when caps->pge (the SDM asks for paging before PGE). Never touches
 * EFLAGS.IF. Panics if paging is already on.
 */
void paging_enable(phys_addr_t directory_phys, const struct vmm_caps *caps);

/* Whether paging_enable() has run: tables are then reached through the recursive slot. */
bool paging_enabled(void);

#endif
