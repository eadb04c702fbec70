/* What the loader handed over, as the kernel sees it on real (emulated) hardware. */
#include "arch/x86/cpu.h"
#include "arch/x86/multiboot.h"
#include "kernel/boot.h"
#include "kernel/ktest.h"
#include "kernel/recover.h"
#include "lib/string.h"

static void check_bad_magic(void *arg)
{
	boot_check_magic(*(uint32_t *)arg);
}

KTEST(wrong_boot_magic_panics_naming_it)
{
	uint32_t magic = 0xdeadbeef;
	struct trap_record rec;
	KT_ASSERT_EQ(run_catching(check_bad_magic, &magic, &rec), TRAP_PANIC);
	KT_EXPECT(strncmp(rec.message, "bad boot magic 0xdeadbeef", 25) == 0);
}

KTEST(command_line_selects_test_mode)
{
	KT_EXPECT(boot_cmdline_has(&boot_info, "test"));
	KT_EXPECT(!boot_cmdline_has(&boot_info, "tes"));
}

KTEST(memory_map_has_available_ram_under_the_kernel)
{
	bool covered = false;
	KT_ASSERT(boot_info.mmap_count > 0);
	for (size_t i = 0; i < boot_info.mmap_count; i++) {
		const struct boot_mmap_entry *e = &boot_info.mmap[i];
		if (e->type == MEMMAP_AVAILABLE && e->base <= kernel_phys_start() &&
		    e->base + e->length >= kernel_phys_end())
			covered = true;
	}
	KT_EXPECT(covered);
}

KTEST(kernel_image_is_below_the_heap)
{
	KT_EXPECT_EQ(kernel_phys_start(), KERNEL_PHYS_BASE);
	KT_EXPECT(kernel_phys_end() <= (phys_addr_t)KERNEL_PHYS_BASE + KHEAP_OFFSET);
}

KTEST(test_module_is_loaded_and_recorded)
{
	static const char magic[] = "MIOOS-TEST-MODULE";
	KT_ASSERT_EQ(boot_info.module_count, 1);
	const struct boot_module *m = &boot_info.modules[0];
	KT_EXPECT(m->end > m->start);
	KT_EXPECT((m->start & (PAGE_SIZE - 1)) == 0); /* we asked for page-aligned modules */
	KT_EXPECT(memcmp((const void *)(uintptr_t)m->start, magic, sizeof(magic) - 1) == 0);

	bool recorded = false;
	for (size_t i = 0; i < boot_info.loader_range_count; i++) {
		const struct boot_range *r = &boot_info.loader_ranges[i];
		if (r->start == m->start && r->end == m->end)
			recorded = true;
	}
	KT_EXPECT(recorded);
}

/*
 * The features are read again here with the bare instruction: make test
 * boots CPUs with and without PSE (-cpu qemu32,-pse), so neither answer
 * may be taken for granted.
 */
KTEST(cpuid_reports_a_vendor_and_the_paging_features)
{
	uint32_t a, b, c, d;
	KT_EXPECT(strlen(boot_cpu.vendor) == 12);
	KT_EXPECT(boot_cpu.max_leaf >= 1);
	cpuid(1, &a, &b, &c, &d);
	KT_EXPECT_EQ(boot_cpu.pse, !!(d & CPUID_EDX_PSE));
	KT_EXPECT_EQ(boot_cpu.pae, !!(d & CPUID_EDX_PAE));
	KT_EXPECT_EQ(boot_cpu.pge, !!(d & CPUID_EDX_PGE));
	KT_EXPECT_EQ(boot_cpu.pse36, !!(d & CPUID_EDX_PSE36));
}

/* ---- Multiboot2 info built by hand: what GRUB's multiboot2 cannot be made to send ---- */

static uint8_t mb2_buf[512] __attribute__((aligned(8)));
static size_t mb2_len;
static struct boot_info mb2_parsed; /* too big for the test's stack */

static void *mb2_tag(uint32_t type, uint32_t size)
{
	struct multiboot2_tag *t = (void *)(mb2_buf + mb2_len);
	t->type = type;
	t->size = size;
	mb2_len = ALIGN_UP(mb2_len + size, (size_t)MULTIBOOT2_TAG_ALIGN);
	return t;
}

static void mb2_string_tag(uint32_t type, const char *s)
{
	struct multiboot2_tag_string *t = mb2_tag(type, (uint32_t)(sizeof(*t) + strlen(s) + 1));
	memcpy(t->string, s, strlen(s) + 1);
}

static struct multiboot2_tag_mmap *mb2_mmap_tag(uint32_t entry_size, size_t entries)
{
	return mb2_tag(MULTIBOOT2_TAG_MMAP, (uint32_t)(sizeof(struct multiboot2_tag_mmap) +
						       entry_size * entries));
}

static void mb2_mmap_entry(struct multiboot2_tag_mmap *m, size_t i, uint64_t addr, uint64_t len,
			   uint32_t type)
{
	m->entry_size = m->entry_size ? m->entry_size : sizeof(struct multiboot2_mmap_entry);
	struct multiboot2_mmap_entry *e =
		(void *)((uint8_t *)(m + 1) + i * m->entry_size);
	*e = (struct multiboot2_mmap_entry){ .addr = addr, .len = len, .type = type };
}

static void mb2_begin(void)
{
	memset(mb2_buf, 0, sizeof(mb2_buf));
	mb2_len = sizeof(struct multiboot2_info_header);
}

static void mb2_end(void)
{
	mb2_tag(MULTIBOOT2_TAG_END, 8);
	((struct multiboot2_info_header *)mb2_buf)->total_size = (uint32_t)mb2_len;
}

static void parse_mb2_buf(void *arg)
{
	(void)arg;
	boot_info_parse(MULTIBOOT2_BOOTLOADER_MAGIC, (phys_addr_t)(uintptr_t)mb2_buf, &mb2_parsed);
}

static void parse_misaligned_mb2(void *arg)
{
	boot_info_parse(MULTIBOOT2_BOOTLOADER_MAGIC, (phys_addr_t)(uintptr_t)mb2_buf + 4, arg);
}

static const uint8_t mb2_module_data[64] __attribute__((aligned(16)));

/* A well-formed info with every tag the kernel reads, plus one it skips. */
static void mb2_build_good(void)
{
	mb2_begin();
	mb2_string_tag(MULTIBOOT2_TAG_CMDLINE, "test mb2");
	mb2_tag(8, 20); /* a framebuffer-sized tag the kernel does not read */
	mb2_string_tag(MULTIBOOT2_TAG_LOADER_NAME, "hand-built");
	struct multiboot2_tag_module *mod = mb2_tag(MULTIBOOT2_TAG_MODULE, sizeof(*mod) + 4);
	mod->mod_start = (uint32_t)(uintptr_t)mb2_module_data;
	mod->mod_end = mod->mod_start + sizeof(mb2_module_data);
	memcpy(mod->string, "mod", 4);
	struct multiboot2_tag_mmap *m = mb2_mmap_tag(sizeof(struct multiboot2_mmap_entry), 3);
	m->entry_size = sizeof(struct multiboot2_mmap_entry);
	mb2_mmap_entry(m, 0, 0, 0x9fc00, MEMMAP_AVAILABLE);
	mb2_mmap_entry(m, 1, 0x100000, 0x7f00000, MEMMAP_AVAILABLE);
	mb2_mmap_entry(m, 2, 0x100000000ull, 0x40000000, MEMMAP_RESERVED);
	mb2_end();
}

/*
 * What both hand-built infos say alike: the strings, and a three-entry map
 * whose second entry is [1 MiB, 128 MiB) and whose third is reserved at
 * high_base. False (the failures recorded) when the map is not there.
 */
static bool parsed_as_built(const struct boot_info *p, uint32_t protocol, const char *cmdline,
			    const char *loader_name, phys_addr_t high_base)
{
	KT_EXPECT_EQ(p->protocol, protocol);
	KT_EXPECT(strcmp(p->cmdline, cmdline) == 0);
	KT_EXPECT(strcmp(p->loader_name, loader_name) == 0);
	if (!KT_EXPECT_EQ(p->mmap_count, 3))
		return false;
	KT_EXPECT_EQ(p->mmap[1].base, 0x100000);
	KT_EXPECT_EQ(p->mmap[1].length, 0x7f00000);
	KT_EXPECT_EQ(p->mmap[2].base, high_base);
	KT_EXPECT_EQ(p->mmap[2].type, MEMMAP_RESERVED);
	return true;
}

KTEST(multiboot2_info_is_parsed_tag_by_tag)
{
	struct trap_record rec;
	mb2_build_good();
	KT_ASSERT_EQ(run_catching(parse_mb2_buf, NULL, &rec), TRAP_NONE);
	KT_ASSERT(parsed_as_built(&mb2_parsed, 2, "test mb2", "hand-built", 0x100000000ull));
	KT_ASSERT_EQ(mb2_parsed.module_count, 1);
	KT_EXPECT_EQ(mb2_parsed.modules[0].start, (phys_addr_t)(uintptr_t)mb2_module_data);
	KT_EXPECT(strcmp(mb2_parsed.modules[0].name, "mod") == 0);
	/* The info block (strings and map inside it) and the module are loader data. */
	KT_ASSERT_EQ(mb2_parsed.loader_range_count, 2);
	KT_EXPECT_EQ(mb2_parsed.loader_ranges[0].start, (phys_addr_t)(uintptr_t)mb2_buf);
	KT_EXPECT_EQ(mb2_parsed.loader_ranges[0].end, (phys_addr_t)(uintptr_t)mb2_buf + mb2_len);
	KT_EXPECT_EQ(mb2_parsed.loader_ranges[1].end - mb2_parsed.loader_ranges[1].start,
		     sizeof(mb2_module_data));
}

/* Whether parse (parse_mb2_buf, or parse_mb1_info further down) panics with a message holding words. */
static bool parse_panics_with(void (*parse)(void *), const char *words)
{
	struct trap_record rec;
	return run_catching(parse, NULL, &rec) == TRAP_PANIC && strstr(rec.message, words) != NULL;
}

static bool mb2_panics_with(const char *words)
{
	return parse_panics_with(parse_mb2_buf, words);
}

KTEST(malformed_multiboot2_info_panics_naming_the_fault)
{
	/* The end tag is missing: the last tag runs past total_size. */
	mb2_build_good();
	((struct multiboot2_info_header *)mb2_buf)->total_size = (uint32_t)(mb2_len - 8);
	KT_EXPECT(mb2_panics_with("runs past the info's end"));

	/* A tag whose size is smaller than its own header. */
	mb2_begin();
	mb2_tag(MULTIBOOT2_TAG_CMDLINE, 4);
	mb2_end();
	KT_EXPECT(mb2_panics_with("runs past the info's end"));

	/* No memory map at all. */
	mb2_begin();
	mb2_string_tag(MULTIBOOT2_TAG_CMDLINE, "test");
	mb2_end();
	KT_EXPECT(mb2_panics_with("no memory map"));

	/* A command line without its NUL inside the tag. */
	mb2_begin();
	struct multiboot2_tag_string *s = mb2_tag(MULTIBOOT2_TAG_CMDLINE, sizeof(*s) + 4);
	memcpy(s->string, "abcd", 4);
	mb2_end();
	KT_EXPECT(mb2_panics_with("unterminated string"));

	/* A map tag too short for its own header: entry_size lies past it, unread. */
	mb2_begin();
	mb2_tag(MULTIBOOT2_TAG_MMAP, 8);
	mb2_end();
	KT_EXPECT(mb2_panics_with("memory map tag at 0x") &&
		  mb2_panics_with("(size 8, too small for its header)"));

	/* Map entries smaller than the format's 24 bytes. */
	mb2_begin();
	struct multiboot2_tag_mmap *m = mb2_mmap_tag(16, 2);
	m->entry_size = 16;
	mb2_end();
	KT_EXPECT(mb2_panics_with("malformed Multiboot2 memory map tag"));

	/* An info that is not 8-byte aligned. */
	mb2_build_good();
	struct trap_record rec;
	static struct boot_info out;
	KT_ASSERT_EQ(run_catching(parse_misaligned_mb2, &out, &rec), TRAP_PANIC);
	KT_EXPECT(strstr(rec.message, "malformed Multiboot2 info") != NULL);
}

/* ---- Multiboot (v1) info built by hand: entry sizes and flags GRUB never sends ---- */

static struct multiboot_info mb1_info;
static uint8_t mb1_map[256] __attribute__((aligned(8)));
static uint32_t mb1_map_len;
static struct multiboot_module mb1_mods[2];
static struct boot_info mb1_parsed;

/* An entry whose size field is `size` (20 in the format, more allowed); the bytes past 20 stay 0. */
static void mb1_entry(uint32_t size, uint64_t addr, uint64_t len, uint32_t type)
{
	struct multiboot_mmap_entry e = { .size = size, .addr = addr, .len = len, .type = type };
	memset(mb1_map + mb1_map_len, 0, 4 + size);
	memcpy(mb1_map + mb1_map_len, &e, sizeof(e));
	mb1_map_len += 4 + size;
	mb1_info.mmap_length = mb1_map_len;
}

static void mb1_begin(void)
{
	memset(&mb1_info, 0, sizeof(mb1_info));
	memset(mb1_map, 0, sizeof(mb1_map));
	mb1_map_len = 0;
	mb1_info.flags = MULTIBOOT_INFO_MEM_MAP;
	mb1_info.mmap_addr = (uint32_t)(uintptr_t)mb1_map;
}

static void parse_mb1_info(void *arg)
{
	(void)arg;
	boot_info_parse(MULTIBOOT_BOOTLOADER_MAGIC, (phys_addr_t)(uintptr_t)&mb1_info, &mb1_parsed);
}

static bool mb1_panics_with(const char *words)
{
	return parse_panics_with(parse_mb1_info, words);
}

KTEST(multiboot1_info_is_parsed_with_any_entry_size)
{
	struct trap_record rec;
	mb1_begin();
	mb1_info.flags |= MULTIBOOT_INFO_CMDLINE | MULTIBOOT_INFO_LOADER_NAME | MULTIBOOT_INFO_MODS;
	mb1_info.cmdline = (uint32_t)(uintptr_t)"test mb1";
	mb1_info.boot_loader_name = (uint32_t)(uintptr_t)"by hand";
	mb1_entry(20, 0, 0x9fc00, MEMMAP_AVAILABLE);
	mb1_entry(28, 0x100000, 0x7f00000, MEMMAP_AVAILABLE); /* 8 bytes the kernel skips */
	mb1_entry(20, 0xfffc0000, 0x40000, MEMMAP_RESERVED);
	mb1_mods[0] = (struct multiboot_module){ 0x300000, 0x301000, (uint32_t)(uintptr_t)"one", 0 };
	mb1_mods[1] = (struct multiboot_module){ 0x302000, 0x302000, 0, 0 }; /* empty, unnamed */
	mb1_info.mods_count = 2;
	mb1_info.mods_addr = (uint32_t)(uintptr_t)mb1_mods;
	KT_ASSERT_EQ(run_catching(parse_mb1_info, NULL, &rec), TRAP_NONE);
	KT_ASSERT(parsed_as_built(&mb1_parsed, 1, "test mb1", "by hand", 0xfffc0000));
	KT_ASSERT_EQ(mb1_parsed.module_count, 2);
	KT_EXPECT(strcmp(mb1_parsed.modules[0].name, "one") == 0);
	KT_EXPECT_EQ(mb1_parsed.modules[1].end, 0x302000);
	KT_EXPECT_EQ(mb1_parsed.modules[1].name[0], '\0');
}

KTEST(malformed_multiboot1_info_panics_naming_the_fault)
{
	mb1_begin();
	mb1_info.flags = 0;
	KT_EXPECT(mb1_panics_with("no memory map"));

	mb1_begin(); /* the flag, but no entries */
	KT_EXPECT(mb1_panics_with("memory map is empty"));

	mb1_begin(); /* a size field below the format's 20 bytes */
	mb1_entry(20, 0, 0x9fc00, MEMMAP_AVAILABLE);
	mb1_entry(12, 0x100000, 0x100000, MEMMAP_AVAILABLE);
	mb1_map_len += 8; /* the entry's 24 bytes are all there */
	mb1_info.mmap_length = mb1_map_len;
	KT_EXPECT(mb1_panics_with("malformed memory map entry"));

	mb1_begin(); /* a size field that runs past the map's length */
	mb1_entry(20, 0, 0x9fc00, MEMMAP_AVAILABLE);
	mb1_entry(20, 0x100000, 0x100000, MEMMAP_AVAILABLE);
	((struct multiboot_mmap_entry *)(mb1_map + 24))->size = 40;
	KT_EXPECT(mb1_panics_with("malformed memory map entry"));

	/*
	 * A size field so large that offset + 4 + size wraps: the walk once
	 * took it for a fit and, with 4 + size == 0 mod 2^32, read the same
	 * entry again until the table overflowed ("more than 128 entries").
	 */
	mb1_begin();
	mb1_entry(20, 0, 0x9fc00, MEMMAP_AVAILABLE);
	mb1_entry(20, 0x100000, 0x100000, MEMMAP_AVAILABLE);
	((struct multiboot_mmap_entry *)(mb1_map + 24))->size = 0xfffffffcu;
	KT_EXPECT(mb1_panics_with("malformed memory map entry at"));

	mb1_begin(); /* a length that ends inside an entry */
	mb1_entry(20, 0, 0x9fc00, MEMMAP_AVAILABLE);
	mb1_info.mmap_length = 24 + 10;
	KT_EXPECT(mb1_panics_with("ends inside an entry"));

	mb1_begin(); /* a map said to run past 4 GiB */
	mb1_entry(20, 0, 0x9fc00, MEMMAP_AVAILABLE);
	mb1_info.mmap_addr = 0xfffffff0u;
	KT_EXPECT(mb1_panics_with("runs past 4 GiB"));

	mb1_begin(); /* a module that ends before it starts */
	mb1_entry(20, 0, 0x9fc00, MEMMAP_AVAILABLE);
	mb1_info.flags |= MULTIBOOT_INFO_MODS;
	mb1_mods[0] = (struct multiboot_module){ 0x302000, 0x301000, 0, 0 };
	mb1_info.mods_count = 1;
	mb1_info.mods_addr = (uint32_t)(uintptr_t)mb1_mods;
	KT_EXPECT(mb1_panics_with("ends (0x301000) before it starts (0x302000)"));
}
