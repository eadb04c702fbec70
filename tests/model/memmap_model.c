/* Brute-force reference for the memory-map sanitiser (see memmap_model.h). */
#include "tests/model/memmap_model.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/*
 * The priority table, written out again on purpose rather than taken from
 * mm/memmap.c: available < ACPI reclaimable < ACPI NVS < reserved and any
 * unknown type < bad; equal priority: the higher type number.
 */
static unsigned rank(uint32_t type)
{
	switch (type) {
	case 1:
		return 1;
	case 3:
		return 2;
	case 4:
		return 3;
	case 5:
		return 5;
	default:
		return 4;
	}
}

static bool wins(uint32_t a, uint32_t b)
{
	return rank(a) > rank(b) || (rank(a) == rank(b) && a > b);
}

bool memmap_model_type_at(const struct memmap_entry *raw, size_t n, phys_addr_t addr,
			  uint32_t *type)
{
	uint32_t best = 0;
	bool covered = false;

	if (addr >= MEMMAP_PHYS_LIMIT)
		return false;
	for (size_t i = 0; i < n; i++) {
		/* addr - base < length also holds for entries whose end wraps past 2^64. */
		if (addr >= raw[i].base && addr - raw[i].base < raw[i].length) {
			if (!covered || wins(raw[i].type, best))
				best = raw[i].type;
			covered = true;
		}
	}
	*type = best;
	return covered;
}

/* A growable list of typed ranges [start, end). */
struct span_list {
	struct memmap_entry *v; /* base and length used as start and end */
	size_t n;
};

static void list_add(struct span_list *l, phys_addr_t start, phys_addr_t end, uint32_t type)
{
	if (l->n > 0) {
		struct memmap_entry *last = &l->v[l->n - 1];
		if (last->length == start && last->type == type) {
			last->length = end; /* extend: length holds the end here */
			return;
		}
	}
	l->v = realloc(l->v, (l->n + 1) * sizeof(*l->v));
	l->v[l->n++] = (struct memmap_entry){ .base = start, .length = end, .type = type };
}

#define WHY(...) (snprintf(why, why_size, __VA_ARGS__), false)

static bool compare_typed(const struct memmap_entry *raw, size_t n, const struct span_list *want,
			  char *why, size_t why_size)
{
	size_t cap = 2 * n;
	struct memmap_entry *got = calloc(cap + 1, sizeof(*got));
	int k = memmap_resolve(raw, n, got, cap);
	bool ok = true;

	if (k < 0)
		ok = WHY("memmap_resolve returned %d with cap 2n = %zu", k, cap);
	else if ((size_t)k != want->n)
		ok = WHY("memmap_resolve gave %d entries, the model %zu", k, want->n);
	for (size_t i = 0; ok && i < want->n; i++) {
		const struct memmap_entry *g = &got[i], *w = &want->v[i];
		if (g->base != w->base || g->base + g->length != w->length || g->type != w->type)
			ok = WHY("resolved entry %zu is [0x%llx-0x%llx) type %u, the model says "
				 "[0x%llx-0x%llx) type %u",
				 i, (unsigned long long)g->base,
				 (unsigned long long)(g->base + g->length), g->type,
				 (unsigned long long)w->base, (unsigned long long)w->length, w->type);
	}
	free(got);
	return ok;
}

static bool compare_usable(const struct memmap_entry *raw, size_t n, const struct span_list *want,
			   char *why, size_t why_size)
{
	size_t cap = n + 1;
	struct memmap_range *got = calloc(cap + 1, sizeof(*got));
	int k = memmap_usable(raw, n, got, cap);
	bool ok = true;

	if (k < 0)
		ok = WHY("memmap_usable returned %d with cap n + 1 = %zu", k, cap);
	else if ((size_t)k != want->n)
		ok = WHY("memmap_usable gave %d ranges, the model %zu", k, want->n);
	for (size_t i = 0; ok && i < want->n; i++)
		if (got[i].start != want->v[i].base || got[i].end != want->v[i].length)
			ok = WHY("usable range %zu is [0x%llx-0x%llx), the model says [0x%llx-0x%llx)",
				 i, (unsigned long long)got[i].start, (unsigned long long)got[i].end,
				 (unsigned long long)want->v[i].base,
				 (unsigned long long)want->v[i].length);
	free(got);
	return ok;
}

/* Usable [start, end) as the contract states it: split where it crosses 4 GiB. */
static void add_usable(struct span_list *l, phys_addr_t start, phys_addr_t end)
{
	if (l->n > 0 && l->v[l->n - 1].length == start && start != MEMMAP_4GIB) {
		l->v[l->n - 1].length = end;
	} else {
		l->v = realloc(l->v, (l->n + 1) * sizeof(*l->v));
		l->v[l->n++] = (struct memmap_entry){ .base = start, .length = end, .type = 1 };
	}
}

static void add_usable_split(struct span_list *l, phys_addr_t start, phys_addr_t end)
{
	if (start < MEMMAP_4GIB && end > MEMMAP_4GIB) {
		add_usable(l, start, MEMMAP_4GIB);
		add_usable(l, MEMMAP_4GIB, end);
	} else {
		add_usable(l, start, end);
	}
}

bool memmap_model_compare(const struct memmap_entry *raw, size_t n,
			  const struct memmap_window *w, char *why, size_t why_size)
{
	/* types[g] is the granule's type, or NONE when no entry covers it. */
	const int64_t NONE = -1;
	int64_t *types = malloc((w->granules + 1) * sizeof(*types));
	phys_addr_t end = w->base + w->granules * w->granule;
	size_t per_page = PAGE_SIZE / w->granule;
	struct span_list typed = { 0 }, usable = { 0 };

	uint32_t t;
	for (size_t g = 0; g < w->granules; g++)
		types[g] = memmap_model_type_at(raw, n, w->base + g * w->granule, &t) ? t : NONE;
	int64_t tail = end < MEMMAP_PHYS_LIMIT && memmap_model_type_at(raw, n, end, &t) ? t : NONE;

	for (size_t g = 0; g < w->granules; g++)
		if (types[g] != NONE)
			list_add(&typed, w->base + g * w->granule, w->base + (g + 1) * w->granule,
				 (uint32_t)types[g]);
	if (tail != NONE)
		list_add(&typed, end, MEMMAP_PHYS_LIMIT, (uint32_t)tail);

	for (size_t p = 0; p < w->granules / per_page; p++) {
		bool all = true;
		for (size_t g = p * per_page; g < (p + 1) * per_page; g++)
			all = all && types[g] == MEMMAP_AVAILABLE;
		if (all)
			add_usable_split(&usable, w->base + p * PAGE_SIZE, w->base + (p + 1) * PAGE_SIZE);
	}
	if (tail == MEMMAP_AVAILABLE)
		add_usable_split(&usable, end, MEMMAP_PHYS_LIMIT);

	bool ok = compare_typed(raw, n, &typed, why, why_size) &&
		  compare_usable(raw, n, &usable, why, why_size);
	free(types);
	free(typed.v);
	free(usable.v);
	return ok;
}

/* ---- turning fuzz bytes into a valid window and map ---- */

enum {
	DECODE_GRANULE = 256,
	DECODE_PAGES = 32,
	DECODE_GRANULES = DECODE_PAGES * (4096 / DECODE_GRANULE),
	DECODE_ENTRY_BYTES = 5,
};

static phys_addr_t decode_window_base(uint8_t choice)
{
	const phys_addr_t half = (DECODE_PAGES / 2) * (phys_addr_t)PAGE_SIZE;
	switch (choice % 5) {
	case 0:
		return 0;
	case 1:
		return MEMMAP_4GIB - half; /* across the 4 GiB line */
	case 2:
		return MEMMAP_PHYS_LIMIT - half; /* across the 2^52 limit */
	case 3:
		return 0 - (phys_addr_t)(DECODE_PAGES + 8) * PAGE_SIZE; /* just below 2^64 */
	default:
		return 0x97000; /* low memory, around the EBDA */
	}
}

static uint32_t decode_type(uint8_t sel)
{
	static const uint32_t types[8] = { 1, 1, 2, 3, 4, 5, 7, 0 };
	uint32_t t = types[sel & 7];
	return t == 0 && (sel & 0x40) ? 0xffffffffu : t;
}

/* A length that makes an entry starting at base reach MEMMAP_PHYS_LIMIT or beyond. */
static uint64_t decode_long_length(phys_addr_t base, uint8_t sel)
{
	switch ((sel >> 3) & 3) {
	case 0:
		return UINT64_MAX; /* wraps past 2^64 (unless base is 0) */
	case 1:
		return 0 - base; /* ends exactly at 2^64: base + length wraps to 0 */
	case 2:
		return base < MEMMAP_PHYS_LIMIT ? MEMMAP_PHYS_LIMIT - base + 12345 : UINT64_MAX - base;
	default:
		return base < MEMMAP_PHYS_LIMIT ? MEMMAP_PHYS_LIMIT - base : (uint64_t)1 << 63;
	}
}

size_t memmap_model_decode(const uint8_t *data, size_t size, struct memmap_window *w,
			   struct memmap_entry *raw, size_t cap)
{
	size_t n = 0;

	w->granule = DECODE_GRANULE;
	w->granules = DECODE_GRANULES;
	w->base = decode_window_base(size > 0 ? data[0] : 0);
	cap = MIN(cap, (size_t)MEMMAP_MODEL_MAX_ENTRIES);
	for (size_t off = 1; off + DECODE_ENTRY_BYTES <= size && n < cap;
	     off += DECODE_ENTRY_BYTES) {
		const uint8_t *d = data + off;
		size_t g0 = (size_t)(d[0] | d[1] << 8) % DECODE_GRANULES;
		size_t room = DECODE_GRANULES - g0;
		size_t k = (size_t)(d[2] | d[3] << 8) % (room + 3);
		phys_addr_t base = w->base + g0 * DECODE_GRANULE;
		uint64_t length = k <= room ? k * (uint64_t)DECODE_GRANULE
					    : decode_long_length(base, d[4]);
		raw[n++] = (struct memmap_entry){ .base = base, .length = length,
						  .type = decode_type(d[4]) };
	}
	return n;
}
