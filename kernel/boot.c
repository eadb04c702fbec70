/*
 * Reading the Multiboot information. Runs before paging, so the loader's
 * physical addresses are usable as pointers as they are.
 */
#include "kernel/boot.h"

#include "arch/x86/multiboot.h"
#include "lib/panic.h"
#include "lib/string.h"

struct boot_info boot_info;

extern char __kernel_start[], __kernel_ro_end[], __kernel_end[], __kernel_stack_guard[];

phys_addr_t kernel_phys_start(void) { return (phys_addr_t)(uintptr_t)__kernel_start; }
phys_addr_t kernel_phys_ro_end(void) { return (phys_addr_t)(uintptr_t)__kernel_ro_end; }
phys_addr_t kernel_phys_end(void) { return (phys_addr_t)(uintptr_t)__kernel_end; }
phys_addr_t kernel_stack_guard(void) { return (phys_addr_t)(uintptr_t)__kernel_stack_guard; }

/* Loader data lies below 4 GiB and paging is off: its address is its pointer. */
static const void *early_phys_ptr(uint32_t phys)
{
	return (const void *)(uintptr_t)phys;
}

unsigned boot_check_magic(uint32_t magic)
{
	if (magic == MULTIBOOT_BOOTLOADER_MAGIC)
		return 1;
	if (magic == MULTIBOOT2_BOOTLOADER_MAGIC)
		return 2;
	panic("bad boot magic 0x%08x (expected Multiboot 0x%08x or Multiboot2 0x%08x): "
	      "the kernel was not started by a Multiboot loader",
	      magic, MULTIBOOT_BOOTLOADER_MAGIC, MULTIBOOT2_BOOTLOADER_MAGIC);
}

static void add_loader_range(struct boot_info *out, phys_addr_t start, uint64_t length,
			     const char *what)
{
	if (length == 0)
		return;
	if (out->loader_range_count == BOOT_LOADER_RANGES_MAX)
		panic("boot: more loader data ranges than the table holds (%d)",
		      BOOT_LOADER_RANGES_MAX);
	out->loader_ranges[out->loader_range_count++] =
		(struct boot_range){ .start = start, .end = start + length, .what = what };
}

/* Copies a loader string and records the bytes it occupies (NUL included). */
static void copy_loader_string(struct boot_info *out, uint32_t phys, char *dst, size_t size,
			       const char *what)
{
	const char *src = early_phys_ptr(phys);
	strlcpy(dst, src, size);
	add_loader_range(out, phys, strlen(src) + 1, what);
}

static void add_mmap_entry(struct boot_info *out, uint64_t base, uint64_t length, uint32_t type)
{
	if (out->mmap_count == BOOT_MMAP_MAX)
		panic("boot: the memory map has more than %d entries", BOOT_MMAP_MAX);
	out->mmap[out->mmap_count++] =
		(struct boot_mmap_entry){ .base = base, .length = length, .type = type };
}

static void parse_mmap(const struct multiboot_info *mbi, struct boot_info *out)
{
	if (!(mbi->flags & MULTIBOOT_INFO_MEM_MAP))
		panic("boot: the loader passed no memory map (multiboot flags 0x%x)", mbi->flags);
	if (mbi->mmap_length == 0)
		panic("boot: the loader's memory map is empty");
	add_loader_range(out, mbi->mmap_addr, mbi->mmap_length, "memory map");

	if ((uint64_t)mbi->mmap_addr + mbi->mmap_length > (uint64_t)1 << 32)
		panic("boot: the memory map at 0x%x (%u bytes) runs past 4 GiB", mbi->mmap_addr,
		      mbi->mmap_length);
	/*
	 * Each entry is its size field, then size bytes (20 or more: a larger
	 * size leaves room for fields a later format adds). The room left is
	 * compared, never offset + size, which a huge size field would wrap.
	 */
	uint32_t offset = 0;
	while (offset < mbi->mmap_length) {
		uint32_t left = mbi->mmap_length - offset;
		const struct multiboot_mmap_entry *e = early_phys_ptr(mbi->mmap_addr + offset);
		if (left < sizeof(*e))
			panic("boot: the memory map ends inside an entry at 0x%x (%u bytes left)",
			      mbi->mmap_addr + offset, left);
		if (e->size < sizeof(*e) - 4 || e->size > left - 4)
			panic("boot: malformed memory map entry at 0x%x (size field %u)",
			      mbi->mmap_addr + offset, e->size);
		add_mmap_entry(out, e->addr, e->len, e->type);
		offset += 4 + e->size;
	}
}

/* Records module [start, end) and its bytes as loader data; its name is the caller's to fill. */
static struct boot_module *add_module(struct boot_info *out, uint32_t start, uint32_t end)
{
	if (out->module_count == BOOT_MODULES_MAX)
		panic("boot: more than the %d supported modules", BOOT_MODULES_MAX);
	if (end < start)
		panic("boot: module %zu ends (0x%x) before it starts (0x%x)", out->module_count,
		      end, start);
	struct boot_module *m = &out->modules[out->module_count++];
	m->start = start;
	m->end = end;
	add_loader_range(out, start, end - start, "module");
	return m;
}

static void parse_modules(const struct multiboot_info *mbi, struct boot_info *out)
{
	if (!(mbi->flags & MULTIBOOT_INFO_MODS) || mbi->mods_count == 0)
		return;
	if (mbi->mods_count > BOOT_MODULES_MAX)
		panic("boot: %u modules, more than the %d supported", mbi->mods_count,
		      BOOT_MODULES_MAX);
	add_loader_range(out, mbi->mods_addr, mbi->mods_count * sizeof(struct multiboot_module),
			 "module list");

	const struct multiboot_module *mods = early_phys_ptr(mbi->mods_addr);
	for (uint32_t i = 0; i < mbi->mods_count; i++) {
		struct boot_module *m = add_module(out, mods[i].mod_start, mods[i].mod_end);
		if (mods[i].string)
			copy_loader_string(out, mods[i].string, m->name, sizeof(m->name),
					   "module name");
	}
}

static void parse_mb1(phys_addr_t info_phys, struct boot_info *out)
{
	const struct multiboot_info *mbi = early_phys_ptr((uint32_t)info_phys);

	add_loader_range(out, info_phys, sizeof(*mbi), "multiboot info");

	if (mbi->flags & MULTIBOOT_INFO_CMDLINE)
		copy_loader_string(out, mbi->cmdline, out->cmdline, sizeof(out->cmdline),
				   "command line");
	if (mbi->flags & MULTIBOOT_INFO_LOADER_NAME)
		copy_loader_string(out, mbi->boot_loader_name, out->loader_name,
				   sizeof(out->loader_name), "loader name");
	parse_mmap(mbi, out);
	parse_modules(mbi, out);
}

/* A tag's string: it must end, NUL included, inside the tag. */
static void copy_tag_string(const struct multiboot2_tag *tag, const char *src, uint32_t tag_phys,
			    char *dst, size_t size)
{
	size_t room = tag->size - (size_t)(src - (const char *)tag);
	if (strnlen(src, room) == room)
		panic("boot: Multiboot2 tag %u at 0x%x has an unterminated string", tag->type,
		      tag_phys);
	strlcpy(dst, src, size);
}

static void parse_mb2_mmap(const struct multiboot2_tag_mmap *t, uint32_t tag_phys,
			   struct boot_info *out)
{
	/* entry_size is read only once the tag is known to hold it. */
	if (t->tag.size < sizeof(*t))
		panic("boot: malformed Multiboot2 memory map tag at 0x%x (size %u, too small for "
		      "its header)", tag_phys, t->tag.size);
	if (t->entry_size < sizeof(struct multiboot2_mmap_entry))
		panic("boot: malformed Multiboot2 memory map tag at 0x%x (size %u, entry size %u)",
		      tag_phys, t->tag.size, t->entry_size);
	size_t bytes = t->tag.size - sizeof(*t);
	if (bytes % t->entry_size != 0)
		panic("boot: Multiboot2 memory map at 0x%x holds %zu bytes, not a whole number of "
		      "%u-byte entries", tag_phys, bytes, t->entry_size);
	if (bytes == 0)
		panic("boot: the loader's memory map is empty");
	const uint8_t *entries = (const uint8_t *)(t + 1);
	for (size_t off = 0; off < bytes; off += t->entry_size) {
		const struct multiboot2_mmap_entry *e = (const void *)(entries + off);
		add_mmap_entry(out, e->addr, e->len, e->type);
	}
}

static void parse_mb2_module(const struct multiboot2_tag_module *t, uint32_t tag_phys,
			     struct boot_info *out)
{
	if (t->tag.size < sizeof(*t) + 1)
		panic("boot: malformed Multiboot2 module tag at 0x%x (size %u)", tag_phys,
		      t->tag.size);
	struct boot_module *m = add_module(out, t->mod_start, t->mod_end);
	copy_tag_string(&t->tag, t->string, tag_phys, m->name, sizeof(m->name));
}

/*
 * Multiboot2: one block of tags. Strings and the map live inside it, so
 * reserving the block covers them; only modules lie elsewhere.
 */
static void parse_mb2(phys_addr_t info_phys, struct boot_info *out)
{
	const struct multiboot2_info_header *h = early_phys_ptr((uint32_t)info_phys);
	uint32_t total = h->total_size;
	if ((info_phys & (MULTIBOOT2_TAG_ALIGN - 1)) != 0 || total < sizeof(*h) + 8)
		panic("boot: malformed Multiboot2 info at 0x%llx (total size %u)", info_phys, total);
	add_loader_range(out, info_phys, total, "multiboot2 info");

	bool have_map = false;
	uint32_t off = sizeof(*h);
	for (;;) {
		const struct multiboot2_tag *tag = (const void *)((const uint8_t *)h + off);
		uint32_t tag_phys = (uint32_t)info_phys + off;
		if (off > total - sizeof(*tag) || tag->size < sizeof(*tag) ||
		    tag->size > total - off)
			panic("boot: Multiboot2 tag at 0x%x runs past the info's end (0x%llx)",
			      tag_phys, info_phys + total);
		if (tag->type == MULTIBOOT2_TAG_END)
			break;
		switch (tag->type) {
		case MULTIBOOT2_TAG_CMDLINE:
			copy_tag_string(tag, ((const struct multiboot2_tag_string *)tag)->string,
					tag_phys, out->cmdline, sizeof(out->cmdline));
			break;
		case MULTIBOOT2_TAG_LOADER_NAME:
			copy_tag_string(tag, ((const struct multiboot2_tag_string *)tag)->string,
					tag_phys, out->loader_name, sizeof(out->loader_name));
			break;
		case MULTIBOOT2_TAG_MODULE:
			parse_mb2_module((const void *)tag, tag_phys, out);
			break;
		case MULTIBOOT2_TAG_MMAP:
			parse_mb2_mmap((const void *)tag, tag_phys, out);
			have_map = true;
			break;
		default:
			break; /* framebuffer, ACPI, ELF sections...: not ours to read */
		}
		off = (uint32_t)ALIGN_UP((uint64_t)off + tag->size, MULTIBOOT2_TAG_ALIGN);
	}
	if (!have_map)
		panic("boot: the loader passed no memory map (no Multiboot2 tag %d)",
		      MULTIBOOT2_TAG_MMAP);
}

void boot_info_parse(uint32_t magic, phys_addr_t info_phys, struct boot_info *out)
{
	memset(out, 0, sizeof(*out));
	out->protocol = boot_check_magic(magic);
	out->info_addr = info_phys;
	if (out->protocol == 2)
		parse_mb2(info_phys, out);
	else
		parse_mb1(info_phys, out);
}

bool boot_cmdline_has(const struct boot_info *info, const char *word)
{
	size_t wlen = strlen(word);
	const char *p = info->cmdline;

	while (*p) {
		while (*p == ' ')
			p++;
		const char *start = p;
		while (*p && *p != ' ')
			p++;
		if ((size_t)(p - start) == wlen && strncmp(start, word, wlen) == 0)
			return true;
	}
	return false;
}

/* The last byte of a [base, base+length) range, saturating instead of wrapping. */
static uint64_t range_last_byte(phys_addr_t base, uint64_t length)
{
	if (length == 0)
		return base;
	return (base + length - 1 < base) ? UINT64_MAX : base + length - 1;
}

size_t boot_mmap_entries(const struct boot_info *info, struct memmap_entry *out)
{
	for (size_t i = 0; i < info->mmap_count; i++)
		out[i] = (struct memmap_entry){ .base = info->mmap[i].base,
						.length = info->mmap[i].length,
						.type = info->mmap[i].type };
	return info->mmap_count;
}

/* The sanitiser's view of the map: every byte's winning type, then whole usable pages. */
static void log_clean_map(const struct boot_info *info)
{
	static struct memmap_entry raw[BOOT_MMAP_MAX], clean[2 * BOOT_MMAP_MAX];
	static struct memmap_range usable[BOOT_MMAP_MAX + 1];
	size_t n = boot_mmap_entries(info, raw);

	int k = memmap_resolve(raw, n, clean, ARRAY_SIZE(clean));
	kprintf("boot: clean memory map (sorted, overlaps resolved, %d entries):\n", k);
	for (int i = 0; i < k; i++)
		kprintf("  clean: [mem 0x%016llx-0x%016llx] %s\n", clean[i].base,
			clean[i].base + clean[i].length - 1, memmap_type_name(clean[i].type));
	k = memmap_usable(raw, n, usable, ARRAY_SIZE(usable));
	kprintf("boot: usable RAM (whole pages, split at 4 GiB, %d ranges, %llu KiB):\n", k,
		k > 0 ? memmap_range_bytes(usable, (size_t)k) / 1024 : 0);
	for (int i = 0; i < k; i++)
		kprintf("  usable: [mem 0x%016llx-0x%016llx]\n", usable[i].start, usable[i].end - 1);
}

void boot_log_print(const struct boot_info *info)
{
	kprintf("boot: loader \"%s\", %s info at 0x%llx\n",
		info->loader_name[0] ? info->loader_name : "(unnamed)",
		info->protocol == 2 ? "Multiboot2" : "Multiboot", info->info_addr);
	kprintf("boot: command line \"%s\"\n", info->cmdline);
	kprintf("boot: memory map from the loader (%zu entries):\n", info->mmap_count);
	for (size_t i = 0; i < info->mmap_count; i++) {
		const struct boot_mmap_entry *e = &info->mmap[i];
		kprintf("  mmap: [mem 0x%016llx-0x%016llx] %s", e->base,
			range_last_byte(e->base, e->length), memmap_type_name(e->type));
		if (e->type < MEMMAP_AVAILABLE || e->type > MEMMAP_BAD)
			kprintf(" %u", e->type);
		kprintf("\n");
	}
	log_clean_map(info);
	kprintf("kernel: [mem 0x%016llx-0x%016llx] (%llu KiB, .bss included)\n",
		kernel_phys_start(), kernel_phys_end() - 1,
		(kernel_phys_end() - kernel_phys_start()) / 1024);
	for (size_t i = 0; i < info->module_count; i++) {
		const struct boot_module *m = &info->modules[i];
		kprintf("module: [mem 0x%016llx-0x%016llx] \"%s\"\n", m->start,
			range_last_byte(m->start, m->end - m->start), m->name);
	}
}
