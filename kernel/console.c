/*
 * Console commands. Every argument is checked before a manager sees it, so
 * a typo prints an error and the prompt comes back; only a deliberate access
 * through a mapping the person made can fault.
 *
 * Nothing typed may damage the kernel's own memory, which no manager can
 * tell from the person's: the console remembers the runs its alloc handed
 * out, and refuses to free frames the kernel allocated for itself (page
 * tables), to write to the kernel's identity-mapped memory (its image,
 * stack, the heap's metadata, page tables) or the VMM's windows, and to
 * map a frame the kernel owns writable. Writes into the heap's arena stay
 * allowed: the heap's own checks are what they demonstrate.
 */
#include "kernel/console.h"

#include "arch/x86/qemu.h"
#include "arch/x86/serial.h"
#include "arch/x86/trap.h"
#include "kernel/boot.h"
#include "kernel/ktest.h"
#include "kernel/memdump.h"
#include "kernel/recover.h"
#include "kernel/vmm_boot.h"
#include "lib/kprintf.h"
#include "lib/lineedit.h"
#include "lib/parse.h"
#include "lib/string.h"
#include "mm/heap.h"
#include "mm/pmm.h"
#include "mm/vmm.h"

#define PROMPT "mio> "
#define MAX_WORDS 8

struct command {
	const char *name;
	const char *usage; /* arguments, for help and error messages */
	const char *help;
	int min_args, max_args;
	int (*run)(int argc, char **argv);
};

static const struct command commands[];

/* Prints "error: <what>" and returns -MIO_EINVAL, for the commands' early exits. */
__attribute__((format(printf, 1, 2))) static int usage_error(const char *fmt, ...)
{
	va_list ap;
	kprintf("error: ");
	va_start(ap, fmt);
	kvprintf(fmt, ap);
	va_end(ap);
	kprintf("\n");
	return -MIO_EINVAL;
}

/* Parses argv[i] as a number no larger than max, naming the argument in the error. */
static int number_arg(char **argv, int i, const char *what, uint64_t max, uint64_t *out)
{
	if (parse_u64(argv[i], out) < 0)
		return usage_error("%s: '%s' is not a number (decimal, 0x hex, or a K/M/G suffix)",
				   what, argv[i]);
	if (*out > max)
		return usage_error("%s: 0x%llx is too large (at most 0x%llx)", what, *out, max);
	return 0;
}

/*
 * Runs fn(arg) and reports a panic or CPU fault it raises as an error
 * instead of stopping the kernel. Used where the managers' own validation
 * panics on bad input (kfree, free) - they check before they change
 * anything - and for deliberate accesses through the person's mappings.
 */
static int run_guarded(const char *what, void (*fn)(void *), void *arg)
{
	struct trap_record rec;

	switch (run_catching(fn, arg, &rec)) {
	case TRAP_NONE:
		return 0;
	case TRAP_PANIC:
		kprintf("error: %s refused: %s\n", what, rec.message);
		return -MIO_EINVAL;
	default:
		kprintf("error: %s: %s at EIP %p", what, x86_exception_name(rec.vector),
			(void *)(uintptr_t)rec.eip);
		if (rec.vector == X86_VEC_PF)
			kprintf(", address %p (%s, %s)", (void *)(uintptr_t)rec.cr2,
				rec.error_code & PF_ERR_PRESENT ? "protection" : "not present",
				rec.error_code & PF_ERR_WRITE ? "write" : "read");
		kprintf("\n");
		return -MIO_EINVAL;
	}
}

static int vmm_result(const char *what, int err)
{
	if (err)
		kprintf("error: %s: %s\n", what, mio_strerror(err));
	return err;
}

/* ---- the heap ---- */

static int cmd_heap(int argc, char **argv)
{
	struct heap_stats st;
	(void)argc;
	(void)argv;
	kheap_stats(&st);
	kprintf("heap: arena %p, %zu bytes (+%zu of metadata before it)\n", st.arena,
		st.arena_bytes, st.metadata_bytes);
	kprintf("heap: %zu used blocks (%zu bytes), %zu free blocks (%zu bytes)\n", st.used_blocks,
		st.used_bytes, st.free_blocks, st.free_bytes);
	kprintf("heap: largest free block %zu bytes; largest kmalloc() that fits now %zu; "
		"%zu bytes of header per block\n", st.largest_free, st.largest_request,
		st.header_bytes);
	return 0;
}

static int cmd_heapdump(int argc, char **argv)
{
	(void)argc;
	(void)argv;
	kheap_dump();
	return 0;
}

static int cmd_kmalloc(int argc, char **argv)
{
	uint64_t size;
	(void)argc;
	if (number_arg(argv, 1, "kmalloc", SIZE_MAX, &size))
		return -MIO_EINVAL;
	void *p = kmalloc((size_t)size);
	if (!p) {
		kprintf("kmalloc(%llu) = NULL: %s\n", size,
			size == 0 ? "a request for 0 bytes gets no block" : "no free block that large");
		return -MIO_ENOMEM;
	}
	kprintf("kmalloc(%llu) = %p\n", size, p);
	return 0;
}

static void kfree_trampoline(void *p)
{
	kfree(p);
}

static void kheap_check_trampoline(void *arg)
{
	(void)arg;
	kheap_check();
}

static int cmd_kfree(int argc, char **argv)
{
	uint64_t addr;
	(void)argc;
	if (number_arg(argv, 1, "kfree", UINTPTR_MAX, &addr))
		return -MIO_EINVAL;
	int err = run_guarded("kfree", kfree_trampoline, (void *)(uintptr_t)addr);
	if (!err)
		kprintf("kfree(%p): done\n", (void *)(uintptr_t)addr);
	/*
	 * A refusal leaves the heap as it was; when what it refused was damage
	 * the person wrote (a red zone), the check reports that damage again.
	 */
	if (run_guarded("kheap_check", kheap_check_trampoline, NULL))
		return -MIO_EINVAL;
	return err;
}

/* ---- physical frames ---- */

/* The runs alloc handed out and free has not taken back: the person's frames. */
#define CONSOLE_RUNS 32
static struct console_run {
	phys_addr_t start;
	size_t frames; /* 0: the slot is unused */
} console_runs[CONSOLE_RUNS];

static struct console_run *console_run_holding(phys_addr_t addr)
{
	for (size_t i = 0; i < CONSOLE_RUNS; i++) {
		struct console_run *r = &console_runs[i];
		if (r->frames && addr >= r->start && addr - r->start < (phys_addr_t)r->frames * PAGE_SIZE)
			return r;
	}
	return NULL;
}

/* Who holds the frame at addr, as far as the console is concerned. */
enum frame_owner { OWNER_NOBODY, OWNER_PERSON, OWNER_KERNEL_ALLOCATED, OWNER_KERNEL_RESERVED };

static enum frame_owner frame_owner(phys_addr_t addr)
{
	switch (pmm_frame_state(&kernel_pmm, addr)) {
	case PMM_FRAME_RUN_START:
	case PMM_FRAME_RUN_BODY: /* allocated: by alloc, or by the kernel for itself (page tables) */
		return console_run_holding(addr) ? OWNER_PERSON : OWNER_KERNEL_ALLOCATED;
	case PMM_FRAME_RESERVED: /* its image, the heap, the PMM's metadata, loader data */
		return OWNER_KERNEL_RESERVED;
	default:
		return OWNER_NOBODY;
	}
}

static bool kernel_owns_frame(phys_addr_t addr)
{
	enum frame_owner o = frame_owner(addr);
	return o == OWNER_KERNEL_ALLOCATED || o == OWNER_KERNEL_RESERVED;
}

static int cmd_frames(int argc, char **argv)
{
	struct pmm_region_stats regions[8];
	struct pmm_stats total;
	(void)argc;
	(void)argv;
	size_t n = pmm_stats(&kernel_pmm, &total, regions, ARRAY_SIZE(regions));
	for (size_t i = 0; i < MIN(n, ARRAY_SIZE(regions)); i++) {
		const struct pmm_stats *s = &regions[i].stats;
		kprintf("region [0x%09llx-0x%09llx): %llu frames: %llu free, %llu allocated, %llu reserved; "
			"largest free run %llu\n", regions[i].start, regions[i].end, s->total, s->free,
			s->allocated, s->reserved, s->largest_free_run);
	}
	kprintf("total: %llu frames (%llu MiB): %llu free, %llu allocated, %llu reserved\n",
		total.total, total.total >> 8, total.free, total.allocated, total.reserved);
	return 0;
}

static int cmd_alloc(int argc, char **argv)
{
	uint64_t n;
	(void)argc;
	if (number_arg(argv, 1, "alloc", SIZE_MAX, &n))
		return -MIO_EINVAL;
	if (n == 0)
		return usage_error("alloc: the number of frames must be at least 1");
	struct console_run *slot = NULL;
	for (size_t i = 0; i < CONSOLE_RUNS && !slot; i++)
		slot = console_runs[i].frames ? NULL : &console_runs[i];
	if (!slot)
		return usage_error("alloc: the console holds %d runs already; free one first",
				   CONSOLE_RUNS);
	void *p = pmm_alloc_frame((size_t)n);
	if (!p) {
		kprintf("alloc(%llu) = NULL: no run of %llu free frames below 4 GiB\n", n, n);
		return -MIO_ENOMEM;
	}
	*slot = (struct console_run){ (phys_addr_t)(uintptr_t)p, (size_t)n };
	kprintf("alloc(%llu) = 0x%llx (%llu KiB)\n", n, (phys_addr_t)(uintptr_t)p, n * 4);
	return 0;
}

struct free_request {
	phys_addr_t addr;
	size_t frames;
};

static void pmm_check_trampoline(void *arg)
{
	(void)arg;
	pmm_check(&kernel_pmm);
}

static void free_trampoline(void *arg)
{
	struct free_request *r = arg;
	r->frames = pmm_free_phys(&kernel_pmm, r->addr);
}

static int cmd_free(int argc, char **argv)
{
	struct free_request r = { 0, 0 };
	(void)argc;
	if (number_arg(argv, 1, "free", UINT64_MAX, &r.addr))
		return -MIO_EINVAL;
	/* Frames the PMM would take back but the kernel still uses, such as page tables. */
	if (frame_owner(r.addr) == OWNER_KERNEL_ALLOCATED)
		return usage_error("free: 0x%llx was not handed out by alloc: the kernel allocated "
				   "it for itself (a page table, say) and still uses it", r.addr);
	struct console_run *mine = console_run_holding(r.addr);
	int err = run_guarded("free", free_trampoline, &r);
	if (!err) {
		kprintf("free(0x%llx): %zu frames back\n", r.addr, r.frames);
		if (mine)
			mine->frames = 0;
	}
	if (run_guarded("pmm_check", pmm_check_trampoline, NULL))
		return -MIO_EINVAL;
	return err;
}

/* ---- virtual memory ---- */

static int flags_arg(const char *word, uint32_t *flags, bool *large)
{
	if (!strcmp(word, "4m"))
		*large = true;
	else if (!strcmp(word, "ro"))
		*flags &= ~VMM_WRITABLE;
	else if (!strcmp(word, "user"))
		*flags |= VMM_USER;
	else if (!strcmp(word, "wt"))
		*flags |= VMM_WRITE_THROUGH;
	else if (!strcmp(word, "nocache"))
		*flags |= VMM_CACHE_DISABLE;
	else if (!strcmp(word, "global"))
		*flags |= VMM_GLOBAL;
	else
		return usage_error("map: unknown option '%s' (4m, ro, user, wt, nocache, global)", word);
	return 0;
}

/*
 * The first frame of [phys, phys + size) the kernel owns, or VMM_PHYS_NONE.
 * Misaligned or impossible addresses own nothing here: the VMM refuses them.
 */
static phys_addr_t first_kernel_frame(phys_addr_t phys, size_t size)
{
	if (phys % size != 0 || phys > UINT64_MAX - size)
		return VMM_PHYS_NONE;
	for (phys_addr_t f = phys; f < phys + size; f += PAGE_SIZE) {
		if (kernel_owns_frame(f))
			return f;
	}
	return VMM_PHYS_NONE;
}

static int cmd_map(int argc, char **argv)
{
	uint64_t virt, phys;
	uint32_t flags = VMM_WRITABLE;
	bool large = false;

	if (number_arg(argv, 1, "map VIRT", UINT32_MAX, &virt) ||
	    number_arg(argv, 2, "map PHYS", UINT64_MAX, &phys))
		return -MIO_EINVAL;
	for (int i = 3; i < argc; i++) {
		if (flags_arg(argv[i], &flags, &large))
			return -MIO_EINVAL;
	}
	phys_addr_t owned = flags & VMM_WRITABLE
				    ? first_kernel_frame(phys, large ? LARGE_PAGE_SIZE : PAGE_SIZE)
				    : VMM_PHYS_NONE; /* read-only: looking damages nothing */
	if (owned != VMM_PHYS_NONE)
		return usage_error("map: the frame at 0x%llx is the kernel's own (%s): map it ro, or "
				   "map frames from alloc", owned,
				   frame_owner(owned) == OWNER_KERNEL_ALLOCATED ? "allocated for itself"
										 : "reserved");
	int err = large ? vmm_alloc_page_4mib((virt_addr_t)virt, phys, flags)
			: vmm_alloc_page((virt_addr_t)virt, phys, flags);
	if (vmm_result("map", err))
		return err;
	kprintf("mapped 0x%08llx -> 0x%llx (%s%s)\n", virt, phys, large ? "4 MiB" : "4 KiB",
		flags & VMM_WRITABLE ? ", writable" : ", read-only");
	return 0;
}

static int cmd_unmap(int argc, char **argv)
{
	uint64_t virt;
	(void)argc;
	if (number_arg(argv, 1, "unmap", UINT32_MAX, &virt))
		return -MIO_EINVAL;
	int err = vmm_free_page((virt_addr_t)virt);
	if (vmm_result("unmap", err))
		return err;
	kprintf("unmapped 0x%08llx (the frame behind it is still yours)\n", virt);
	return 0;
}

static int cmd_translate(int argc, char **argv)
{
	uint64_t virt;
	(void)argc;
	if (number_arg(argv, 1, "translate", UINT32_MAX, &virt))
		return -MIO_EINVAL;
	phys_addr_t phys = vmm_translate((virt_addr_t)virt);
	if (phys == VMM_PHYS_NONE) {
		kprintf("0x%08llx is not mapped\n", virt);
		return -MIO_ENOENT;
	}
	kprintf("0x%08llx -> 0x%llx\n", virt, phys);
	return 0;
}

static void print_entry_flags(uint32_t e)
{
	kprintf("%s%s%s%s%s%s%s", e & PTE_W ? " writable" : " read-only",
		e & PTE_U ? " user" : " supervisor", e & PTE_PWT ? " write-through" : "",
		e & PTE_PCD ? " uncached" : "", e & PTE_A ? " accessed" : "",
		e & PTE_D ? " dirty" : "", e & PTE_G ? " global" : "");
}

/* Decodes the entries the MMU walks for virt, read through the recursive slot. */
static int cmd_pt(int argc, char **argv)
{
	uint64_t virt;
	(void)argc;
	if (number_arg(argv, 1, "pt", UINT32_MAX, &virt))
		return -MIO_EINVAL;
	const pde_t *pd = (const pde_t *)(uintptr_t)VMM_DIRECTORY_WINDOW;
	unsigned i = pdx((uint32_t)virt), j = ptx((uint32_t)virt);
	pde_t pde = pd[i];

	kprintf("0x%08llx: directory slot %u, table slot %u, offset 0x%03llx\n", virt, i, j,
		virt & (PAGE_SIZE - 1));
	kprintf("  PDE[%u] = 0x%08x:", i, pde);
	if (!entry_present(pde)) {
		kprintf(" not present\n");
		return 0;
	}
	if (pde_is_large(pde)) {
		kprintf(" 4 MiB page at phys 0x%llx", pde_large_phys(pde));
		print_entry_flags(pde);
		kprintf("\n");
		return 0;
	}
	kprintf(" page table at phys 0x%llx%s\n", pde_table_phys(pde),
		i == VMM_RECURSIVE_PDX ? " (the directory itself: the recursive slot)" : "");
	const pte_t *pt = (const pte_t *)(uintptr_t)(VMM_TABLE_WINDOW + i * PAGE_SIZE);
	pte_t pte = pt[j];
	kprintf("  PTE[%u] = 0x%08x:", j, pte);
	if (!entry_present(pte)) {
		kprintf(" not present\n");
		return 0;
	}
	kprintf(" 4 KiB page at phys 0x%llx", pte_phys(pte));
	print_entry_flags(pte);
	kprintf("\n");
	return 0;
}

struct access {
	volatile uint32_t *addr;
	uint32_t value;
	bool write;
};

static void access_trampoline(void *arg)
{
	struct access *a = arg;
	if (a->write)
		*a->addr = a->value;
	else
		a->value = *a->addr;
}

/*
 * What the kernel keeps at virtual address addr that a write must not
 * touch, or NULL when the word is the person's to write: their own
 * mappings (map checks the frames), frames from alloc, the heap's arena.
 */
static const char *kernel_memory_at(uint32_t addr)
{
	struct heap_stats st;

	if (addr >= VMM_RESERVED_BASE)
		return "the VMM's window onto the page tables";
	kheap_stats(&st);
	if (addr - (uintptr_t)st.arena < st.arena_bytes || console_run_holding(addr))
		return NULL;
	if (!vmm_is_mapped(addr))
		return NULL; /* page 0, the stack's guard page: the write faults, and is caught */
	for (size_t i = 0; i < kernel_vmm.protected_count; i++) {
		const struct vmm_range *r = &kernel_vmm.protected_ranges[i];
		if (addr >= r->start && addr < r->end)
			return kernel_owns_frame(addr) ? "the kernel's own memory"
						       : "memory the kernel identity-maps for its own use";
	}
	return NULL;
}

static int cmd_read_write(int argc, char **argv)
{
	uint64_t addr, value = 0;
	struct access a = { .write = argc == 3 };

	if (number_arg(argv, 1, argv[0], UINT32_MAX - 3, &addr) ||
	    (a.write && number_arg(argv, 2, "value", UINT32_MAX, &value)))
		return -MIO_EINVAL;
	if (addr % 4)
		return usage_error("%s: 0x%llx is not 4-byte aligned", argv[0], addr);
	const char *whose = a.write ? kernel_memory_at((uint32_t)addr) : NULL;
	if (whose)
		return usage_error("write: 0x%llx is %s: write through a mapping you made, to frames "
				   "from alloc, or into the heap's arena", addr, whose);
	a.addr = (volatile uint32_t *)(uintptr_t)addr;
	a.value = (uint32_t)value;
	if (run_guarded(argv[0], access_trampoline, &a))
		return -MIO_EINVAL;
	kprintf("[0x%08llx] %s 0x%08x\n", addr, a.write ? "<-" : "=", a.value);
	return 0;
}

static int cmd_memdump(int argc, char **argv)
{
	(void)argc;
	(void)argv;
	memdump_print();
	return 0;
}

static int cmd_help(int argc, char **argv)
{
	(void)argc;
	(void)argv;
	kprintf("commands:\n");
	for (const struct command *c = commands; c->name; c++) {
		char left[64];
		ksnprintf(left, sizeof(left), "%s %s", c->name, c->usage);
		kprintf("  %-20s %s\n", left, c->help);
	}
	kprintf("numbers: decimal, 0x hex, or with a K/M/G suffix (4K, 0x2M)\n");
	return 0;
}

static int cmd_mem(int argc, char **argv)
{
	(void)argc;
	(void)argv;
	boot_log_print(&boot_info);
	return 0;
}

static int cmd_test(int argc, char **argv)
{
	int failures = ktest_run(argc > 1 ? argv[1] : NULL);
	return failures ? -MIO_EINVAL : 0;
}

static int cmd_halt(int argc, char **argv)
{
	(void)argc;
	(void)argv;
	kprintf("halting\n");
	qemu_exit(QEMU_EXIT_PASS);
}

static const struct command commands[] = {
	{ "help", "", "this list", 0, 0, cmd_help },
	{ "mem", "", "the loader's memory map, raw and sanitised", 0, 0, cmd_mem },
	{ "heap", "", "heap statistics", 0, 0, cmd_heap },
	{ "heapdump", "", "every heap block", 0, 0, cmd_heapdump },
	{ "kmalloc", "SIZE", "allocate SIZE bytes from the heap", 1, 1, cmd_kmalloc },
	{ "kfree", "ADDR", "free a heap block", 1, 1, cmd_kfree },
	{ "frames", "", "physical frames per region", 0, 0, cmd_frames },
	{ "alloc", "N", "allocate N contiguous 4 KiB frames", 1, 1, cmd_alloc },
	{ "free", "ADDR", "free the frames allocated at ADDR", 1, 1, cmd_free },
	{ "map", "VIRT PHYS [4m] [ro|user|wt|nocache|global]...",
	  "map a 4 KiB (or 4 MiB) page, writable unless ro", 2, 7, cmd_map },
	{ "unmap", "VIRT", "unmap the page at VIRT", 1, 1, cmd_unmap },
	{ "translate", "VIRT", "the physical address VIRT maps to", 1, 1, cmd_translate },
	{ "pt", "VIRT", "decode the directory and table entries for VIRT", 1, 1, cmd_pt },
	{ "read", "ADDR", "read the 32-bit word at ADDR", 1, 1, cmd_read_write },
	{ "write", "ADDR VALUE", "write a 32-bit word at ADDR", 2, 2, cmd_read_write },
	{ "memdump", "", "the memory picture data (see tools/mksvg.c)", 0, 0, cmd_memdump },
	{ "test", "[FILTER]", "run the kernel tests (those whose name contains FILTER)", 0, 1, cmd_test },
	{ "halt", "", "leave QEMU", 0, 0, cmd_halt },
	{ NULL, NULL, NULL, 0, 0, NULL },
};

static const struct command *find_command(const char *name)
{
	for (const struct command *c = commands; c->name; c++) {
		if (strcmp(c->name, name) == 0)
			return c;
	}
	return NULL;
}

int console_execute(char *line)
{
	char *argv[MAX_WORDS];
	int argc = split_words(line, argv, MAX_WORDS);

	if (argc < 0)
		return usage_error("too many words (at most %d)", MAX_WORDS);
	if (argc == 0)
		return 0;
	const struct command *c = find_command(argv[0]);
	if (!c)
		return usage_error("unknown command '%s' (try help)", argv[0]);
	if (argc - 1 < c->min_args || argc - 1 > c->max_args)
		return usage_error("usage: %s %s", c->name, c->usage);
	return c->run(argc, argv);
}

static void echo_serial(const char *s, size_t n, void *ctx)
{
	(void)ctx;
	for (size_t i = 0; i < n; i++)
		serial_putc(s[i]);
}

void console_run(void)
{
	static struct lineedit editor;

	lineedit_init(&editor, echo_serial, NULL);
	kprintf("\nMioOS-C memory console. Type help for the commands.\n" PROMPT);
	for (;;) {
		if (!lineedit_feed(&editor, serial_getc()))
			continue;
		console_execute(editor.line);
		kprintf(PROMPT);
	}
}
