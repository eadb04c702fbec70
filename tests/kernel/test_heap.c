/*
 * The kernel heap at its real address on (emulated) hardware: filled to
 * exhaustion with mixed sizes and emptied again, its boot-time placement
 * checks, and its panics on bad pointers in the i386 build.
 */
#include "kernel/kheap_init.h"
#include "kernel/ktest.h"
#include "kernel/recover.h"
#include "lib/kprintf.h"
#include "lib/string.h"
#include "mm/heap.h"

KTEST(kheap_lives_at_its_configured_range)
{
	struct heap_stats st;
	KT_ASSERT(kheap_instance() != NULL);
	kheap_stats(&st);
	uintptr_t arena = (uintptr_t)st.arena;
	KT_EXPECT((uintptr_t)kheap_instance() >= KHEAP_PHYS_START);
	KT_EXPECT(arena > KHEAP_PHYS_START);
	KT_EXPECT(arena + st.arena_bytes <= KHEAP_PHYS_START + KHEAP_PHYS_SIZE);
	KT_EXPECT(st.metadata_bytes + st.arena_bytes <= KHEAP_PHYS_SIZE);
	KT_EXPECT(st.arena_bytes + st.metadata_bytes + HEAP_GRANULE > KHEAP_PHYS_SIZE);
	KT_EXPECT_EQ(st.header_bytes, HEAP_HEADER_SIZE);
}

/* A filled block: a link to the block filled before it, then a pattern. */
struct filled {
	struct filled *prev;
	size_t size;
};

static const size_t fill_sizes[] = { 24, 1000, 100, 5000, 1, 300, 64, 16000, 17, 2048, 480, 9 };

static struct filled *fill_one(struct filled *prev, size_t size, unsigned n)
{
	struct filled *f = n % 7 == 3 ? kmalloc_aligned(MAX(size, sizeof(*f)), 256)
				      : kmalloc(MAX(size, sizeof(*f)));
	if (!f)
		return NULL;
	f->prev = prev;
	f->size = MAX(size, sizeof(*f));
	memset(f + 1, (int)(n & 0xff), f->size - sizeof(*f));
	return f;
}

/* The last, smallest allocations of the fill: too small to hold a link. */
static void *crumbs[4096];

KTEST(kheap_fills_to_exhaustion_and_every_block_comes_back)
{
	struct heap_stats start, full, end;
	struct filled *last = NULL;
	size_t blocks = 0, misaligned = 0, ncrumbs = 0;

	kheap_check();
	kheap_stats(&start);
	/* Mixed sizes until one fails, then ever smaller ones until even 1 byte fails. */
	for (unsigned n = 0;; n++) {
		struct filled *f = fill_one(last, fill_sizes[n % ARRAY_SIZE(fill_sizes)], n);
		if (!f)
			break;
		misaligned += ((uintptr_t)f % HEAP_GRANULE) != 0;
		last = f;
		blocks++;
	}
	for (size_t size = 8192; size > 0; size /= 2) {
		struct filled *f;
		while ((f = fill_one(last, size, (unsigned)blocks)) != NULL) {
			last = f;
			blocks++;
		}
	}
	for (void *p; ncrumbs < ARRAY_SIZE(crumbs) && (p = kmalloc(1)) != NULL;)
		crumbs[ncrumbs++] = p;
	kheap_check();
	kheap_stats(&full);
	KT_EXPECT(blocks > KHEAP_PHYS_SIZE / 4096); /* a real fill: 1500 blocks in the default 3 MiB */
	KT_EXPECT_EQ(misaligned, 0);
	KT_EXPECT_EQ(kmalloc(1), NULL); /* exhausted: not even one byte is left */
	KT_EXPECT_EQ(full.largest_free, 0);
	KT_EXPECT_EQ(full.used_blocks, start.used_blocks + blocks + ncrumbs);
	kprintf("     filled the heap with %zu blocks (+%zu of 1 byte)\n", blocks, ncrumbs);
	while (ncrumbs > 0)
		kfree(crumbs[--ncrumbs]);

	/* Every other block first (no merges), then the rest (merging both sides). */
	size_t freed = 0;
	struct filled *keep = NULL;
	for (struct filled *f = last, *prev; f; f = prev) {
		prev = f->prev;
		uint8_t expect = (uint8_t)((const uint8_t *)(f + 1))[0];
		for (size_t i = sizeof(*f); i < f->size; i++)
			KT_ASSERT_EQ(((const uint8_t *)f)[i], expect);
		if (freed++ % 2 == 0) {
			kfree(f);
		} else {
			f->prev = keep;
			keep = f;
		}
	}
	kheap_check();
	for (struct filled *f = keep, *prev; f; f = prev) {
		prev = f->prev;
		kfree(f);
	}
	kheap_check();
	kheap_stats(&end);
	KT_EXPECT_EQ(freed, blocks);
	KT_EXPECT_EQ(end.free_bytes, start.free_bytes);
	KT_EXPECT_EQ(end.largest_free, start.largest_free);
	KT_EXPECT_EQ(end.free_blocks, start.free_blocks);
	KT_EXPECT_EQ(end.used_blocks, start.used_blocks);
}

KTEST(kmalloc_aligned_gives_page_aligned_blocks)
{
	void *p = kmalloc_aligned(100, 4096), *q = kmalloc_aligned(4096, 4096);
	KT_ASSERT(p && q);
	KT_EXPECT((uintptr_t)p % 4096 == 0 && (uintptr_t)q % 4096 == 0);
	KT_EXPECT_EQ(kmalloc_aligned(64, 48), NULL);
	kfree(p);
	kfree(q);
	kheap_check();
}

static void kfree_arg(void *p) { kfree(p); }

KTEST(kfree_of_a_foreign_or_freed_pointer_panics_naming_it)
{
	struct trap_record rec;
	char expect[64];
	static int not_heap;

	KT_ASSERT_EQ(run_catching(kfree_arg, &not_heap, &rec), TRAP_PANIC);
	ksnprintf(expect, sizeof(expect), "kfree: %p is not a heap pointer", (void *)&not_heap);
	KT_EXPECT(strcmp(rec.message, expect) == 0);

	void *p = kmalloc(40);
	KT_ASSERT(p != NULL);
	kfree(p);
	KT_ASSERT_EQ(run_catching(kfree_arg, p, &rec), TRAP_PANIC);
	ksnprintf(expect, sizeof(expect), "double free of %p", p);
	KT_EXPECT(strcmp(rec.message, expect) == 0);
	kheap_check();
}

/* ---- placement checks against synthetic loader reports ---- */

static struct boot_info fake;

struct placement {
	phys_addr_t start;
	uint64_t size;
};

static void check_fake(void *arg)
{
	const struct placement *pl = arg;
	kheap_check_placement(&fake, pl->start, pl->size);
}

static void fake_map(phys_addr_t ram_end)
{
	memset(&fake, 0, sizeof(fake));
	fake.mmap[fake.mmap_count++] = (struct boot_mmap_entry){ 0, 0x9fc00, MEMMAP_AVAILABLE };
	fake.mmap[fake.mmap_count++] =
		(struct boot_mmap_entry){ 0x100000, ram_end - 0x100000, MEMMAP_AVAILABLE };
}

static enum trap_kind try_placement(phys_addr_t start, uint64_t size, struct trap_record *rec)
{
	struct placement pl = { start, size };
	return run_catching(check_fake, &pl, rec);
}

KTEST(kheap_placement_accepts_the_real_boot)
{
	struct trap_record rec;
	struct placement pl = { KHEAP_PHYS_START, KHEAP_PHYS_SIZE };
	fake = boot_info;
	KT_EXPECT_EQ(run_catching(check_fake, &pl, &rec), TRAP_NONE);
}

/*
 * Synthetic maps around a 3 MiB heap at the configured start (clear of the
 * real kernel image, whatever the layout), each with one fault.
 */
KTEST(kheap_placement_panics_outside_ram_or_over_loader_data)
{
	const phys_addr_t at = KHEAP_PHYS_START, size = 0x300000;
	struct trap_record rec;
	char ram_end[24];

	fake_map(at + 0x200000); /* RAM ends two thirds of the way through the heap */
	KT_EXPECT_EQ(try_placement(at, size, &rec), TRAP_PANIC);
	KT_EXPECT(strstr(rec.message, "is not inside available RAM") != NULL);
	ksnprintf(ram_end, sizeof(ram_end), "0x%llx", (unsigned long long)(at + 0x200000));
	KT_EXPECT(strstr(rec.message, ram_end) != NULL);

	fake_map(at + 0x8000000); /* a reserved hole inside otherwise available RAM */
	fake.mmap[fake.mmap_count++] = (struct boot_mmap_entry){ at + 0x100000, 0x1000, MEMMAP_RESERVED };
	KT_EXPECT_EQ(try_placement(at, size, &rec), TRAP_PANIC);
	KT_EXPECT(strstr(rec.message, "overlaps reserved memory") != NULL);

	fake_map(at + 0x8000000); /* a reserved entry whose length runs past 2^64: to the top */
	fake.mmap[fake.mmap_count++] =
		(struct boot_mmap_entry){ at + 0x100000, (uint64_t)0 - 0x100000, MEMMAP_RESERVED };
	KT_EXPECT_EQ(try_placement(at, size, &rec), TRAP_PANIC);
	KT_EXPECT(strstr(rec.message, "overlaps reserved memory") != NULL);

	fake_map(at + 0x8000000); /* a module GRUB put where the heap goes */
	fake.loader_ranges[fake.loader_range_count++] =
		(struct boot_range){ at + size - 0x1000, at + size + 0x1000, "module" };
	KT_EXPECT_EQ(try_placement(at, size, &rec), TRAP_PANIC);
	KT_EXPECT(strstr(rec.message, "overlaps loader data (module)") != NULL);

	fake_map(at + 0x8000000); /* the kernel image itself */
	KT_EXPECT_EQ(try_placement(KERNEL_PHYS_BASE, size, &rec), TRAP_PANIC);
	KT_EXPECT(strstr(rec.message, "overlaps the kernel image") != NULL);

	fake_map(at + 0x8000000); /* two adjacent available entries together cover it */
	fake.mmap[1].length = at + 0x180000 - 0x100000;
	fake.mmap[fake.mmap_count++] = (struct boot_mmap_entry){ at + 0x180000, 0x1000000, MEMMAP_AVAILABLE };
	KT_EXPECT_EQ(try_placement(at, size, &rec), TRAP_NONE);
}
