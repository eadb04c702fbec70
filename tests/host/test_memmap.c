/* The memory-map sanitiser: the real QEMU maps, every pathological case, and the brute-force model. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/xorshift.h"
#include "mm/memmap.h"
#include "tests/model/memmap_model.h"
#include "tests/model/qemu_maps.h"

#define E(base, len, type) ((struct memmap_entry){ (base), (len), (type) })
#define R(s, e) ((struct memmap_range){ (s), (e) })
#define GIB(x) ((phys_addr_t)(x) << 30)
#define AVAIL MEMMAP_AVAILABLE
#define RESV MEMMAP_RESERVED

static struct memmap_range out[64];
static struct memmap_entry typed[128];

static int usable_of(const struct memmap_entry *raw, size_t n)
{
	memset(out, 0xa5, sizeof(out));
	return memmap_usable(raw, n, out, ARRAY_SIZE(out));
}

static void expect_ranges(int got, const struct memmap_range *want, size_t n)
{
	cr_assert_eq(got, (int)n, "expected %zu ranges, got %d", n, got);
	for (size_t i = 0; i < n; i++)
		cr_assert(out[i].start == want[i].start && out[i].end == want[i].end,
			  "range %zu is [0x%llx-0x%llx), expected [0x%llx-0x%llx)", i,
			  (unsigned long long)out[i].start, (unsigned long long)out[i].end,
			  (unsigned long long)want[i].start, (unsigned long long)want[i].end);
}

#define EXPECT_USABLE(raw, ...)                                                         \
	do {                                                                            \
		const struct memmap_range want_[] = { __VA_ARGS__ };                    \
		expect_ranges(usable_of(raw, ARRAY_SIZE(raw)), want_, ARRAY_SIZE(want_)); \
	} while (0)

static void expect_model_agrees(const struct memmap_entry *raw, size_t n, phys_addr_t base,
				size_t pages)
{
	struct memmap_window w = { .base = base, .granule = 256, .granules = pages * 16 };
	char why[320];
	cr_assert(memmap_model_compare(raw, n, &w, why, sizeof(why)), "%s", why);
}

/* ---- the maps QEMU really hands over ---- */

Test(memmap, qemu_32m)
{
	int k = usable_of(qemu_map_32m.entries, qemu_map_32m.count);
	const struct memmap_range want[] = { R(0x0, 0x9f000), R(0x100000, 0x1fe0000) };
	expect_ranges(k, want, 2);
}

Test(memmap, qemu_128m)
{
	int k = usable_of(qemu_map_128m.entries, qemu_map_128m.count);
	const struct memmap_range want[] = { R(0x0, 0x9f000), R(0x100000, 0x7fe0000) };
	expect_ranges(k, want, 2);
}

Test(memmap, qemu_3g)
{
	int k = usable_of(qemu_map_3g.entries, qemu_map_3g.count);
	const struct memmap_range want[] = { R(0x0, 0x9f000), R(0x100000, 0xbffe0000) };
	expect_ranges(k, want, 2);
}

Test(memmap, qemu_5g_has_ram_above_4gib)
{
	int k = usable_of(qemu_map_5g.entries, qemu_map_5g.count);
	const struct memmap_range want[] = { R(0x0, 0x9f000), R(0x100000, 0xbffe0000),
					     R(GIB(4), GIB(6)) };
	expect_ranges(k, want, 3);
	cr_assert_eq(memmap_range_bytes(out, 3), 0x9f000 + 0xbfee0000 + GIB(2));
}

Test(memmap, qemu_x86_64_reserved_entry_at_0xfd00000000_is_64bit_clean)
{
	int k = usable_of(qemu_map_x86_64_128m.entries, qemu_map_x86_64_128m.count);
	const struct memmap_range want[] = { R(0x0, 0x9f000), R(0x100000, 0x7fe0000) };
	expect_ranges(k, want, 2);

	k = memmap_resolve(qemu_map_x86_64_5g.entries, qemu_map_x86_64_5g.count, typed,
			   ARRAY_SIZE(typed));
	cr_assert_eq(k, 8);
	cr_assert(typed[7].base == 0xfd00000000 && typed[7].length == 0x300000000 &&
		  typed[7].type == RESV);
	cr_assert(typed[6].base == GIB(4) && typed[6].length == GIB(2) && typed[6].type == AVAIL);
}

Test(memmap, qemu_maps_agree_with_the_model_around_their_boundaries)
{
	const struct qemu_map *maps[] = { &qemu_map_32m, &qemu_map_128m, &qemu_map_3g,
					  &qemu_map_5g, &qemu_map_x86_64_128m };
	for (size_t i = 0; i < ARRAY_SIZE(maps); i++) {
		/* The model only judges maps that fit its window: check the low 1 MiB. */
		struct memmap_entry low[8];
		size_t n = 0;
		for (size_t j = 0; j < maps[i]->count; j++)
			if (maps[i]->entries[j].base + maps[i]->entries[j].length <= 0x100000)
				low[n++] = maps[i]->entries[j];
		expect_model_agrees(low, n, 0, 256);
	}
}

/* ---- resolve: the clean typed map ---- */

Test(memmap, resolve_sorts_merges_and_keeps_types)
{
	const struct memmap_entry raw[] = {
		E(0x3000, 0x1000, RESV), E(0x0, 0x2000, AVAIL), E(0x2000, 0x1000, AVAIL),
		E(0x5000, 0x1000, MEMMAP_ACPI_NVS),
	};
	int k = memmap_resolve(raw, ARRAY_SIZE(raw), typed, ARRAY_SIZE(typed));
	cr_assert_eq(k, 3);
	cr_assert(typed[0].base == 0 && typed[0].length == 0x3000 && typed[0].type == AVAIL);
	cr_assert(typed[1].base == 0x3000 && typed[1].length == 0x1000 && typed[1].type == RESV);
	cr_assert(typed[2].base == 0x5000 && typed[2].type == MEMMAP_ACPI_NVS);
}

Test(memmap, priority_order_between_every_type)
{
	/* Five entries over the same bytes: bad memory beats everything. */
	struct memmap_entry raw[] = {
		E(0x1000, 0x1000, AVAIL), E(0x1000, 0x1000, MEMMAP_ACPI_RECLAIMABLE),
		E(0x1000, 0x1000, MEMMAP_ACPI_NVS), E(0x1000, 0x1000, RESV),
		E(0x1000, 0x1000, MEMMAP_BAD),
	};
	static const uint32_t winner_as_entries_drop[] = { MEMMAP_BAD, RESV, MEMMAP_ACPI_NVS,
							   MEMMAP_ACPI_RECLAIMABLE, AVAIL };
	for (size_t drop = 0; drop < 5; drop++) {
		size_t n = 5 - drop; /* keep the first n: the winner is the highest kept */
		int k = memmap_resolve(raw, n, typed, ARRAY_SIZE(typed));
		cr_assert_eq(k, 1);
		cr_assert_eq(typed[0].type, winner_as_entries_drop[drop], "n=%zu: type %u", n,
			     typed[0].type);
	}
	cr_assert(memmap_type_beats(7, RESV), "unknown types tie with reserved; higher number wins");
	cr_assert(!memmap_type_beats(7, MEMMAP_BAD));
	cr_assert(memmap_type_beats(0, AVAIL), "type 0 is garbage, not RAM");
}

Test(memmap, type_priorities_rank_the_types_strictly_in_the_documented_order)
{
	cr_assert_lt(memmap_type_priority(AVAIL), memmap_type_priority(MEMMAP_ACPI_RECLAIMABLE));
	cr_assert_lt(memmap_type_priority(MEMMAP_ACPI_RECLAIMABLE),
		     memmap_type_priority(MEMMAP_ACPI_NVS));
	cr_assert_lt(memmap_type_priority(MEMMAP_ACPI_NVS), memmap_type_priority(RESV));
	cr_assert_eq(memmap_type_priority(7), memmap_type_priority(RESV), "unknown ranks as reserved");
	cr_assert_lt(memmap_type_priority(RESV), memmap_type_priority(MEMMAP_BAD));
}

Test(memmap, a_type_never_beats_itself)
{
	const uint32_t types[] = { 0, AVAIL, RESV, MEMMAP_ACPI_RECLAIMABLE, MEMMAP_ACPI_NVS,
				   MEMMAP_BAD, 7, 42 };
	for (size_t i = 0; i < ARRAY_SIZE(types); i++)
		cr_assert(!memmap_type_beats(types[i], types[i]), "type %u beats itself", types[i]);
}

Test(memmap, range_bytes_counts_only_the_first_n_ranges)
{
	const struct memmap_range ranges[] = { R(0x1000, 0x3000), R(0x5000, 0x6000),
					       R(GIB(4), GIB(5)) };
	cr_assert_eq(memmap_range_bytes(ranges, 0), 0);
	cr_assert_eq(memmap_range_bytes(ranges, 1), 0x2000);
	cr_assert_eq(memmap_range_bytes(ranges, 2), 0x3000);
	cr_assert_eq(memmap_range_bytes(ranges, 3), 0x3000 + GIB(1));
}

Test(memmap, resolve_reports_a_too_small_output)
{
	const struct memmap_entry raw[] = { E(0x0, 0x1000, AVAIL), E(0x1000, 0x1000, RESV),
					    E(0x2000, 0x1000, AVAIL) };
	cr_assert_eq(memmap_resolve(raw, 3, typed, 2), -MIO_ENOMEM);
	cr_assert_eq(memmap_resolve(raw, 3, typed, 3), 3);
}

/* ---- usable: every pathological case ---- */

Test(memmap, unsorted_entries)
{
	const struct memmap_entry raw[] = {
		E(GIB(4), GIB(1), AVAIL), E(0x100000, 0x700000, AVAIL), E(0x0, 0x9fc00, AVAIL),
		E(0x9fc00, 0x400, RESV),
	};
	EXPECT_USABLE(raw, R(0x0, 0x9f000), R(0x100000, 0x800000), R(GIB(4), GIB(5)));
}

Test(memmap, reserved_wins_over_available_in_either_order)
{
	const struct memmap_entry a[] = { E(0x100000, 0x400000, AVAIL), E(0x200000, 0x1000, RESV) };
	const struct memmap_entry b[] = { E(0x200000, 0x1000, RESV), E(0x100000, 0x400000, AVAIL) };
	EXPECT_USABLE(a, R(0x100000, 0x200000), R(0x201000, 0x500000));
	EXPECT_USABLE(b, R(0x100000, 0x200000), R(0x201000, 0x500000));
}

Test(memmap, overlapping_available_entries_merge)
{
	const struct memmap_entry raw[] = { E(0x1000, 0x5000, AVAIL), E(0x3000, 0x5000, AVAIL),
					    E(0x8000, 0x1000, AVAIL) };
	EXPECT_USABLE(raw, R(0x1000, 0x9000));
}

Test(memmap, zero_length_entries_are_ignored)
{
	const struct memmap_entry raw[] = { E(0x1000, 0, RESV), E(0x0, 0x4000, AVAIL),
					    E(0x2000, 0, RESV), E(0x9000, 0, AVAIL) };
	EXPECT_USABLE(raw, R(0x0, 0x4000));
}

Test(memmap, length_wrapping_past_2_pow_64_is_clamped)
{
	/* base + length wraps to 0x3000: must not become [0x5000, 0x3000) or cover low memory. */
	const struct memmap_entry raw[] = { E(0x5000, UINT64_MAX - 0x1fff, AVAIL),
					    E(0x0, 0x2000, RESV) };
	EXPECT_USABLE(raw, R(0x5000, MEMMAP_4GIB), R(MEMMAP_4GIB, MEMMAP_PHYS_LIMIT));

	const struct memmap_entry resv[] = { E(0x0, GIB(8), AVAIL), E(GIB(6), UINT64_MAX, RESV) };
	EXPECT_USABLE(resv, R(0x0, MEMMAP_4GIB), R(MEMMAP_4GIB, GIB(6)));

	const struct memmap_entry top[] = { E(UINT64_MAX - 0xfff, 0x2000, AVAIL) };
	cr_assert_eq(usable_of(top, 1), 0, "wholly above the 2^52 limit");
}

Test(memmap, entry_crossing_4gib_is_split_there)
{
	const struct memmap_entry raw[] = { E(GIB(3), GIB(2), AVAIL) };
	EXPECT_USABLE(raw, R(GIB(3), MEMMAP_4GIB), R(MEMMAP_4GIB, GIB(5)));
	expect_model_agrees(raw, 0, 0, 1); /* keeps the helper honest on an empty map */
}

Test(memmap, other_types_stay_out)
{
	const struct memmap_entry raw[] = {
		E(0x0, 0x10000, AVAIL),
		E(0x1000, 0x1000, MEMMAP_ACPI_RECLAIMABLE),
		E(0x3000, 0x1000, MEMMAP_ACPI_NVS),
		E(0x5000, 0x1000, MEMMAP_BAD),
		E(0x7000, 0x1000, 7), /* persistent memory: unknown here, so reserved */
		E(0x9000, 0x1000, 0),
		E(0x20000, 0x1000, MEMMAP_ACPI_RECLAIMABLE), /* alone: still not usable */
	};
	EXPECT_USABLE(raw, R(0x0, 0x1000), R(0x2000, 0x3000), R(0x4000, 0x5000), R(0x6000, 0x7000),
		      R(0x8000, 0x9000), R(0xa000, 0x10000));
}

Test(memmap, partial_pages_are_rounded_inward)
{
	const struct memmap_entry raw[] = { E(0x1001, 0x3ffe, AVAIL) }; /* 0x1001 .. 0x4fff */
	EXPECT_USABLE(raw, R(0x2000, 0x4000));

	const struct memmap_entry tiny[] = { E(0x1800, 0xfff, AVAIL) };
	cr_assert_eq(usable_of(tiny, 1), 0, "less than one whole page");

	/* Two halves of one page from different entries make a whole page. */
	const struct memmap_entry halves[] = { E(0x3800, 0x800, AVAIL), E(0x3000, 0x800, AVAIL) };
	EXPECT_USABLE(halves, R(0x3000, 0x4000));

	/* A reserved byte poisons its whole page. */
	const struct memmap_entry poison[] = { E(0x0, 0x4000, AVAIL), E(0x2fff, 1, RESV) };
	EXPECT_USABLE(poison, R(0x0, 0x2000), R(0x3000, 0x4000));

	/* The real case: 0x9fc00 is not a page boundary. */
	const struct memmap_entry ebda[] = { E(0x0, 0x9fc00, AVAIL) };
	EXPECT_USABLE(ebda, R(0x0, 0x9f000));
}

Test(memmap, entries_beyond_the_physical_limit_are_dropped_or_cut)
{
	const struct memmap_entry raw[] = { E(MEMMAP_PHYS_LIMIT - 0x2000, 0x4000, AVAIL),
					    E(MEMMAP_PHYS_LIMIT + 0x1000, 0x1000, AVAIL) };
	EXPECT_USABLE(raw, R(MEMMAP_PHYS_LIMIT - 0x2000, MEMMAP_PHYS_LIMIT));
}

Test(memmap, empty_map_and_too_small_output)
{
	cr_assert_eq(memmap_usable(NULL, 0, out, 0), 0);
	const struct memmap_entry raw[] = { E(0x0, 0x1000, AVAIL), E(0x2000, 0x1000, AVAIL) };
	cr_assert_eq(memmap_usable(raw, 2, out, 1), -MIO_ENOMEM);
	cr_assert_eq(memmap_usable(raw, 2, out, 2), 2);
}

Test(memmap, output_bounds_stated_in_the_header_hold)
{
	/* Worst case for usable: n available pieces with one crossing 4 GiB. */
	const struct memmap_entry raw[] = { E(0x0, 0x1000, AVAIL), E(0x2000, 0x1000, AVAIL),
					    E(GIB(3), GIB(2), AVAIL) };
	cr_assert_eq(memmap_usable(raw, 3, out, 4), 4);
	/* Worst case for resolve: every entry nested in the previous one. */
	const struct memmap_entry nest[] = { E(0x0, 0x10000, AVAIL), E(0x1000, 0xe000, RESV),
					     E(0x2000, 0xc000, MEMMAP_BAD) };
	cr_assert_eq(memmap_resolve(nest, 3, typed, 5), 5);
}

Test(memmap, type_names)
{
	cr_assert_str_eq(memmap_type_name(AVAIL), "available");
	cr_assert_str_eq(memmap_type_name(MEMMAP_BAD), "bad memory");
	cr_assert_str_eq(memmap_type_name(42), "unknown type");
}

/* ---- memmap_find_free ---- */

Test(memmap, find_free_takes_the_lowest_fit_past_avoided_ranges)
{
	const struct memmap_range usable[] = { R(0x0, 0x9f000), R(0x100000, 0x7fe0000),
					       R(GIB(4), GIB(6)) };
	const struct memmap_range avoid[] = { R(0x503000, 0x504000), R(0x119000, 0x11b076),
					      R(0x500000, 0x501001) };
	phys_addr_t a;
	cr_assert_eq(memmap_find_free(usable, 3, 0x1800, 0x500000, MEMMAP_4GIB, avoid, 3, &a), 0);
	cr_assert_eq(a, 0x504000, "1.5 pages do not fit the one-page gap: 0x%llx",
		     (unsigned long long)a);
	cr_assert_eq(memmap_find_free(usable, 3, 0x1000, 0x500000, MEMMAP_4GIB, avoid, 3, &a), 0);
	cr_assert_eq(a, 0x502000, "one page fits the gap after the partial page at 0x501000");
	cr_assert_eq(memmap_find_free(usable, 3, 0x1000, 0x1, MEMMAP_4GIB, NULL, 0, &a), 0);
	cr_assert_eq(a, 0x1000, "min rounds up to a page");
	cr_assert_eq(memmap_find_free(usable, 3, 0x8000000, 0, MEMMAP_4GIB, NULL, 0, &a),
		     -MIO_ENOMEM, "128 MiB fits no range below 4 GiB");
	cr_assert_eq(memmap_find_free(usable, 3, 0x8000000, 0, UINT64_MAX, NULL, 0, &a), 0);
	cr_assert_eq(a, GIB(4));
	const struct memmap_range all[] = { R(0, UINT64_MAX) };
	cr_assert_eq(memmap_find_free(usable, 2, 0x1000, 0, MEMMAP_4GIB, all, 1, &a), -MIO_ENOMEM);
}

Test(memmap, find_free_at_the_edges)
{
	const struct memmap_range low[] = { R(0x1000, 0x10000) };
	const struct memmap_range top[] = { R(UINT64_MAX - 0x3fff, UINT64_MAX) };
	phys_addr_t a = 0x5a5a;
	/* A min in the last page below 2^64 must not round up to 0. */
	cr_assert_eq(memmap_find_free(low, 1, 0x1000, UINT64_MAX - 0x10, UINT64_MAX, NULL, 0, &a),
		     -MIO_ENOMEM);
	cr_assert_eq(memmap_find_free(top, 1, 0x1000, UINT64_MAX - 0x10, UINT64_MAX, NULL, 0, &a),
		     -MIO_ENOMEM);
	cr_assert_eq(a, 0x5a5a, "nothing stored on failure");
	cr_assert_eq(memmap_find_free(top, 1, 0x1000, 0, UINT64_MAX, NULL, 0, &a), 0);
	cr_assert_eq(a, UINT64_MAX - 0x3fff);
	/* An empty avoid range avoids nothing. */
	const struct memmap_range empty[] = { R(0x1800, 0x1800) };
	cr_assert_eq(memmap_find_free(low, 1, 0x2000, 0, UINT64_MAX, empty, 1, &a), 0);
	cr_assert_eq(a, 0x1000, "an empty avoid range moved the fit to 0x%llx",
		     (unsigned long long)a);
	/* Nor does an empty request overlap an avoid range around it. */
	const struct memmap_range around[] = { R(0x800, 0x1800) };
	cr_assert_eq(memmap_find_free(low, 1, 0, 0, UINT64_MAX, around, 1, &a), 0);
	cr_assert_eq(a, 0x1000);
}

Test(memmap, find_free_uses_the_last_page_below_2_pow_64)
{
	/* The last page starts at UINT64_MAX - 0xfff; a range ending at UINT64_MAX holds 0xfff bytes of it. */
	const struct memmap_range top[] = { R(UINT64_MAX - 0x3fff, UINT64_MAX) };
	const phys_addr_t last_page = UINT64_MAX - 0xfff;
	phys_addr_t a = 0;
	cr_assert_eq(memmap_find_free(top, 1, 0x800, last_page, UINT64_MAX, NULL, 0, &a), 0,
		     "a min at the start of the last page");
	cr_assert_eq(a, last_page);
	/* An avoided range ending one page below 2^64 leaves the last page free. */
	const struct memmap_range avoid[] = { R(UINT64_MAX - 0x3fff, last_page - 1) };
	a = 0;
	cr_assert_eq(memmap_find_free(top, 1, 0x800, 0, UINT64_MAX, avoid, 1, &a), 0,
		     "the last page after an avoided range");
	cr_assert_eq(a, last_page, "got 0x%llx", (unsigned long long)a);
}

Test(memmap, find_free_places_an_empty_request_inside_usable_ram)
{
	const struct memmap_range usable[] = { R(0x1000, 0x2000), R(0x5000, 0x6000) };
	phys_addr_t a = 0;
	/* min is the first range's end: the lowest address inside usable RAM at or above it is 0x5000. */
	cr_assert_eq(memmap_find_free(usable, 2, 0, 0x2000, UINT64_MAX, NULL, 0, &a), 0);
	cr_assert_eq(a, 0x5000, "0x%llx is not inside a usable range", (unsigned long long)a);
}

/* ---- differential: random maps against the brute-force model ---- */

static uint64_t rng = 0x9e3779b97f4a7c15ull;

Test(memmap, random_maps_match_the_brute_force_model)
{
	uint8_t bytes[1 + 5 * MEMMAP_MODEL_MAX_ENTRIES];
	struct memmap_entry raw[MEMMAP_MODEL_MAX_ENTRIES];
	struct memmap_window w;
	char why[320];

	for (int iter = 0; iter < 20000; iter++) {
		size_t size = 1 + 5 * (xorshift64(&rng) % (MEMMAP_MODEL_MAX_ENTRIES + 1));
		for (size_t i = 0; i < size; i++)
			bytes[i] = (uint8_t)xorshift64(&rng);
		size_t n = memmap_model_decode(bytes, size, &w, raw, ARRAY_SIZE(raw));
		cr_assert(memmap_model_compare(raw, n, &w, why, sizeof(why)),
			  "iteration %d (window 0x%llx, %zu entries): %s", iter,
			  (unsigned long long)w.base, n, why);
	}
}

Test(memmap, seed_corpus_matches_the_model)
{
	/* The fuzzer's seeds, replayed here so a plain `make test` covers them. */
	static const char *const seeds[] = { "seed-qemu-low", "seed-across-4g", "seed-wrap",
					     "seed-limit", "seed-top" };
	for (size_t i = 0; i < ARRAY_SIZE(seeds); i++) {
		char path[128];
		uint8_t data[512];
		snprintf(path, sizeof(path), "fuzz/corpus/fuzz_memmap/%s", seeds[i]);
		FILE *f = fopen(path, "rb");
		cr_assert(f, "missing seed %s", path);
		size_t size = fread(data, 1, sizeof(data), f);
		fclose(f);
		struct memmap_entry raw[MEMMAP_MODEL_MAX_ENTRIES];
		struct memmap_window w;
		char why[320];
		size_t n = memmap_model_decode(data, size, &w, raw, ARRAY_SIZE(raw));
		cr_assert(n > 0, "seed %s decodes to no entry", seeds[i]);
		cr_assert(memmap_model_compare(raw, n, &w, why, sizeof(why)), "%s: %s", seeds[i], why);
	}
}
