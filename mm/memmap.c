/*
 * Memory-map sanitiser: a boundary sweep over the raw entries (see memmap.h).
 */
#include "mm/memmap.h"

enum {
	PRIORITY_AVAILABLE = 1,
	PRIORITY_ACPI_RECLAIMABLE = 2,
	PRIORITY_ACPI_NVS = 3,
	PRIORITY_RESERVED = 4, /* also every type this code does not know */
	PRIORITY_BAD = 5,
};

unsigned memmap_type_priority(uint32_t type)
{
	switch (type) {
	case MEMMAP_AVAILABLE:
		return PRIORITY_AVAILABLE;
	case MEMMAP_ACPI_RECLAIMABLE:
		return PRIORITY_ACPI_RECLAIMABLE;
	case MEMMAP_ACPI_NVS:
		return PRIORITY_ACPI_NVS;
	case MEMMAP_BAD:
		return PRIORITY_BAD;
	default:
		return PRIORITY_RESERVED;
	}
}

bool memmap_type_beats(uint32_t a, uint32_t b)
{
	unsigned pa = memmap_type_priority(a), pb = memmap_type_priority(b);
	return pa != pb ? pa > pb : a > b;
}

const char *memmap_type_name(uint32_t type)
{
	switch (type) {
	case MEMMAP_AVAILABLE:
		return "available";
	case MEMMAP_RESERVED:
		return "reserved";
	case MEMMAP_ACPI_RECLAIMABLE:
		return "ACPI reclaimable";
	case MEMMAP_ACPI_NVS:
		return "ACPI NVS";
	case MEMMAP_BAD:
		return "bad memory";
	default:
		return "unknown type";
	}
}

uint64_t memmap_range_bytes(const struct memmap_range *ranges, size_t n)
{
	uint64_t total = 0;
	for (size_t i = 0; i < n; i++)
		total += ranges[i].end - ranges[i].start;
	return total;
}

/*
 * The part [*start, *end) of entry e that can exist: empty entries and
 * entries wholly above the limit give false; a length that would wrap past
 * 2^64 or cross the limit is cut at the limit. Compares the length with the
 * room left instead of adding, so nothing overflows.
 */
static bool entry_span(const struct memmap_entry *e, phys_addr_t *start, phys_addr_t *end)
{
	if (e->length == 0 || e->base >= MEMMAP_PHYS_LIMIT)
		return false;
	uint64_t room = MEMMAP_PHYS_LIMIT - e->base;
	*start = e->base;
	*end = e->length >= room ? MEMMAP_PHYS_LIMIT : e->base + e->length;
	return true;
}

/* A maximal interval being built up from consecutive sweep steps. */
struct pending {
	bool valid;
	phys_addr_t start, end;
	uint32_t type;
};

/* Receives each elementary interval [start, end) that some entry covers, in address order. */
typedef void (*sweep_sink_t)(void *ctx, phys_addr_t start, phys_addr_t end, uint32_t type);

/*
 * Walks the address space from the lowest entry base upward. At each
 * position, the covering entries decide the type (highest priority wins) and
 * the nearest entry start or end above the position is the next boundary.
 * Uncovered gaps are skipped, not reported.
 */
static void sweep(const struct memmap_entry *raw, size_t n, sweep_sink_t sink, void *ctx)
{
	phys_addr_t cur = MEMMAP_PHYS_LIMIT, s, t;

	for (size_t i = 0; i < n; i++)
		if (entry_span(&raw[i], &s, &t))
			cur = MIN(cur, s);

	while (cur < MEMMAP_PHYS_LIMIT) {
		phys_addr_t next = MEMMAP_PHYS_LIMIT;
		bool covered = false;
		uint32_t type = 0;

		for (size_t i = 0; i < n; i++) {
			if (!entry_span(&raw[i], &s, &t))
				continue;
			if (s <= cur && cur < t) {
				if (!covered || memmap_type_beats(raw[i].type, type))
					type = raw[i].type;
				covered = true;
				next = MIN(next, t);
			} else if (s > cur) {
				next = MIN(next, s);
			}
		}
		if (covered)
			sink(ctx, cur, next, type);
		else if (next == MEMMAP_PHYS_LIMIT)
			break; /* nothing covers cur and nothing starts above it */
		cur = next;
	}
}

/* ---- memmap_resolve: the typed clean map ---- */

struct resolve_ctx {
	struct memmap_entry *out;
	size_t cap, count;
	bool overflow;
	struct pending run;
};

static void resolve_flush(struct resolve_ctx *c)
{
	if (!c->run.valid)
		return;
	if (c->count < c->cap)
		c->out[c->count++] = (struct memmap_entry){
			.base = c->run.start,
			.length = c->run.end - c->run.start,
			.type = c->run.type,
		};
	else
		c->overflow = true;
	c->run.valid = false;
}

static void resolve_sink(void *ctx, phys_addr_t start, phys_addr_t end, uint32_t type)
{
	struct resolve_ctx *c = ctx;

	if (c->run.valid && c->run.end == start && c->run.type == type) {
		c->run.end = end;
		return;
	}
	resolve_flush(c);
	c->run = (struct pending){ .valid = true, .start = start, .end = end, .type = type };
}

int memmap_resolve(const struct memmap_entry *raw, size_t n, struct memmap_entry *out,
		   size_t cap)
{
	struct resolve_ctx c = { .out = out, .cap = cap };

	sweep(raw, n, resolve_sink, &c);
	resolve_flush(&c);
	return c.overflow ? -MIO_ENOMEM : (int)c.count;
}

/* ---- memmap_usable: whole available pages ---- */

struct usable_ctx {
	struct memmap_range *out;
	size_t cap, count;
	bool overflow;
	struct pending run; /* the available bytes seen so far, not yet rounded */
};

static void usable_push(struct usable_ctx *c, phys_addr_t start, phys_addr_t end)
{
	if (c->count < c->cap)
		c->out[c->count++] = (struct memmap_range){ .start = start, .end = end };
	else
		c->overflow = true;
}

/* Rounds the pending available run inward to pages and emits it, split at 4 GiB. */
static void usable_flush(struct usable_ctx *c)
{
	if (!c->run.valid)
		return;
	c->run.valid = false;

	phys_addr_t start = ALIGN_UP(c->run.start, (phys_addr_t)PAGE_SIZE);
	phys_addr_t end = ALIGN_DOWN(c->run.end, (phys_addr_t)PAGE_SIZE);
	if (start >= end)
		return; /* less than one whole page */
	if (start < MEMMAP_4GIB && end > MEMMAP_4GIB) {
		usable_push(c, start, MEMMAP_4GIB);
		usable_push(c, MEMMAP_4GIB, end);
	} else {
		usable_push(c, start, end);
	}
}

static void usable_sink(void *ctx, phys_addr_t start, phys_addr_t end, uint32_t type)
{
	struct usable_ctx *c = ctx;

	if (type != MEMMAP_AVAILABLE) {
		usable_flush(c);
		return;
	}
	if (c->run.valid && c->run.end == start) {
		c->run.end = end;
		return;
	}
	usable_flush(c);
	c->run = (struct pending){ .valid = true, .start = start, .end = end, .type = type };
}

int memmap_usable(const struct memmap_entry *raw, size_t n, struct memmap_range *out,
		  size_t cap)
{
	struct usable_ctx c = { .out = out, .cap = cap };

	sweep(raw, n, usable_sink, &c);
	usable_flush(&c);
	return c.overflow ? -MIO_ENOMEM : (int)c.count;
}

/* ---- memmap_find_free: a home for early data ---- */

/*
 * Moves *a past every avoided range that [*a, *a + size) overlaps; true if
 * it moved. The caller keeps *a + size at or below a range's end: no wrap.
 */
static bool skip_avoided(phys_addr_t *a, uint64_t size, const struct memmap_range *avoid,
			 size_t navoid)
{
	bool moved = false;
	for (size_t i = 0; i < navoid; i++) {
		if (ranges_overlap(*a, *a + size, avoid[i].start, avoid[i].end)) {
			/* Rounding the very top of the address space up would wrap to 0. */
			*a = avoid[i].end > UINT64_MAX - PAGE_SIZE
				     ? UINT64_MAX
				     : ALIGN_UP(avoid[i].end, (phys_addr_t)PAGE_SIZE);
			moved = true;
		}
	}
	return moved;
}

int memmap_find_free(const struct memmap_range *usable, size_t count, uint64_t size,
		     phys_addr_t min, phys_addr_t max, const struct memmap_range *avoid,
		     size_t navoid, phys_addr_t *out)
{
	for (size_t i = 0; i < count; i++) {
		phys_addr_t lowest = MAX(usable[i].start, min);
		if (lowest > UINT64_MAX - (PAGE_SIZE - 1))
			break; /* no page starts at or above it: rounding up would wrap to 0 */
		phys_addr_t a = ALIGN_UP(lowest, (phys_addr_t)PAGE_SIZE);
		phys_addr_t end = MIN(usable[i].end, max);
		/* a only grows, so each pass either fits, moves past an avoided range, or gives up. */
		while (a < end && end - a >= size) {
			if (!skip_avoided(&a, size, avoid, navoid)) {
				*out = a;
				return 0;
			}
		}
	}
	return -MIO_ENOMEM;
}
