/* Reference PMM: bitmaps and a linear first-fit scan (see pmm_model.h). */
#include "tests/model/pmm_model.h"

#include <stdlib.h>
#include <string.h>

#include "lib/panic.h"

static bool bit(const uint8_t *map, size_t i) { return (map[i / 8] >> (i % 8)) & 1; }

static void put(uint8_t *map, size_t i, bool v)
{
	if (v)
		map[i / 8] |= (uint8_t)(1u << (i % 8));
	else
		map[i / 8] &= (uint8_t)~(1u << (i % 8));
}

static phys_addr_t frame_addr(const struct pmm_model *m, size_t f)
{
	return m->base + ((phys_addr_t)f << PAGE_SHIFT);
}

/* The model frame holding addr, or false when addr lies outside the model. */
static bool frame_of(const struct pmm_model *m, phys_addr_t addr, size_t *f)
{
	if (addr < m->base || ((addr - m->base) >> PAGE_SHIFT) >= m->frames)
		return false;
	*f = (size_t)((addr - m->base) >> PAGE_SHIFT);
	return true;
}

void pmm_model_init(struct pmm_model *m, const struct memmap_range *usable, size_t count,
		    phys_addr_t floor)
{
	phys_addr_t lo = UINT64_MAX, hi = 0;

	floor = MAX(floor, (phys_addr_t)PAGE_SIZE);
	floor = ALIGN_UP(MIN(floor, PMM_MAX_PHYS), (phys_addr_t)PAGE_SIZE);
	for (size_t i = 0; i < count; i++) {
		phys_addr_t s = MAX(usable[i].start, floor), e = MIN(usable[i].end, PMM_MAX_PHYS);
		if (s < e) {
			lo = MIN(lo, s);
			hi = MAX(hi, e);
		}
	}
	memset(m, 0, sizeof(*m));
	if (lo >= hi)
		return;
	m->base = lo;
	m->frames = (size_t)((hi - lo) >> PAGE_SHIFT);
	size_t bytes = m->frames / 8 + 1;
	m->used = malloc(bytes);
	m->managed = calloc(bytes, 1);
	m->reserved = calloc(bytes, 1);
	m->range_first = calloc(bytes, 1);
	m->run_len = calloc(m->frames, sizeof(uint32_t));
	memset(m->used, 0xff, bytes);
	for (size_t i = 0; i < count; i++) {
		phys_addr_t s = MAX(usable[i].start, floor), e = MIN(usable[i].end, PMM_MAX_PHYS);
		if (s >= e)
			continue;
		size_t first = (size_t)((s - lo) >> PAGE_SHIFT), end = (size_t)((e - lo) >> PAGE_SHIFT);
		put(m->range_first, first, true);
		for (size_t f = first; f < end; f++) {
			put(m->managed, f, true);
			put(m->used, f, false);
		}
	}
}

void pmm_model_destroy(struct pmm_model *m)
{
	free(m->used);
	free(m->managed);
	free(m->reserved);
	free(m->range_first);
	free(m->run_len);
	memset(m, 0, sizeof(*m));
}

enum pmm_frame_state pmm_model_state(const struct pmm_model *m, phys_addr_t addr)
{
	size_t f;
	if (!frame_of(m, addr, &f) || !bit(m->managed, f))
		return PMM_FRAME_UNMANAGED;
	if (bit(m->reserved, f))
		return PMM_FRAME_RESERVED;
	if (m->run_len[f])
		return PMM_FRAME_RUN_START;
	return bit(m->used, f) ? PMM_FRAME_RUN_BODY : PMM_FRAME_FREE;
}

/* Model frames [*a, *b) overlapping the byte range [start, end), rounded outward. */
static bool frames_of_range(const struct pmm_model *m, phys_addr_t start, phys_addr_t end,
			    size_t *a, size_t *b)
{
	if (end <= start || m->frames == 0)
		return false;
	phys_addr_t model_end = frame_addr(m, m->frames);
	phys_addr_t s = MAX(ALIGN_DOWN(start, (phys_addr_t)PAGE_SIZE), m->base);
	phys_addr_t e = MIN(end, model_end);
	if (s >= e)
		return false;
	*a = (size_t)((s - m->base) >> PAGE_SHIFT);
	*b = (size_t)((e - m->base + PAGE_SIZE - 1) >> PAGE_SHIFT);
	return true;
}

bool pmm_model_reserve_would_panic(const struct pmm_model *m, phys_addr_t start, phys_addr_t end)
{
	size_t a, b;
	if (!frames_of_range(m, start, end, &a, &b))
		return false;
	for (size_t f = a; f < b; f++) {
		enum pmm_frame_state st = pmm_model_state(m, frame_addr(m, f));
		if (st == PMM_FRAME_RUN_START || st == PMM_FRAME_RUN_BODY)
			return true;
	}
	return false;
}

size_t pmm_model_reserve(struct pmm_model *m, phys_addr_t start, phys_addr_t end)
{
	size_t a, b, newly = 0;
	if (!frames_of_range(m, start, end, &a, &b))
		return 0;
	for (size_t f = a; f < b; f++) {
		if (pmm_model_state(m, frame_addr(m, f)) != PMM_FRAME_FREE)
			continue;
		put(m->reserved, f, true);
		put(m->used, f, true);
		newly++;
	}
	return newly;
}

static void take(struct pmm_model *m, size_t first, size_t n)
{
	for (size_t f = first; f < first + n; f++)
		put(m->used, f, true);
	m->run_len[first] = (uint32_t)n;
}

int pmm_model_alloc(struct pmm_model *m, size_t frames, phys_addr_t align, phys_addr_t limit,
		    phys_addr_t *out)
{
	return pmm_model_alloc_range(m, frames, align, 0, limit, out);
}

int pmm_model_alloc_range(struct pmm_model *m, size_t frames, phys_addr_t align, phys_addr_t min,
			  phys_addr_t limit, phys_addr_t *out)
{
	if (frames == 0)
		return -MIO_EINVAL;
	if (align == 0)
		align = PAGE_SIZE;
	if (!IS_POWER_OF_TWO(align))
		return -MIO_EINVAL;

	size_t start = 0, run = 0;
	for (size_t f = 0; f < m->frames; f++) {
		if (bit(m->used, f) || frame_addr(m, f) < min) {
			run = 0;
			continue;
		}
		if (bit(m->range_first, f))
			run = 0; /* runs never continue across the start of a usable range */
		if (run == 0) {
			if (!IS_ALIGNED(frame_addr(m, f), align))
				continue;
			start = f;
		}
		if (++run == frames) {
			/* The lowest fit: if it ends past the limit, every later one does too. */
			if (frame_addr(m, start + frames) > limit ||
			    frame_addr(m, start + frames) < frame_addr(m, start))
				return -MIO_ENOMEM;
			take(m, start, frames);
			*out = frame_addr(m, start);
			return 0;
		}
	}
	return -MIO_ENOMEM;
}

void pmm_model_take(struct pmm_model *m, phys_addr_t addr, size_t n)
{
	size_t f;
	if (!frame_of(m, addr, &f) || f + n > m->frames)
		panic("pmm_model_take: 0x%llx outside the model", (unsigned long long)addr);
	for (size_t i = f; i < f + n; i++)
		if (pmm_model_state(m, frame_addr(m, i)) != PMM_FRAME_FREE)
			panic("pmm_model_take: frame %zu is not free", i);
	take(m, f, n);
}

enum pmm_model_free_verdict pmm_model_free_verdict(const struct pmm_model *m, phys_addr_t addr)
{
	if (!IS_ALIGNED(addr, PAGE_SIZE))
		return PMM_MODEL_FREE_UNALIGNED;
	switch (pmm_model_state(m, addr)) {
	case PMM_FRAME_UNMANAGED:
		return PMM_MODEL_FREE_UNMANAGED;
	case PMM_FRAME_FREE:
		return PMM_MODEL_FREE_DOUBLE;
	case PMM_FRAME_RESERVED:
		return PMM_MODEL_FREE_RESERVED;
	case PMM_FRAME_RUN_BODY:
		return PMM_MODEL_FREE_INSIDE_RUN;
	default:
		return PMM_MODEL_FREE_OK;
	}
}

size_t pmm_model_free(struct pmm_model *m, phys_addr_t addr)
{
	size_t f;
	if (pmm_model_free_verdict(m, addr) != PMM_MODEL_FREE_OK || !frame_of(m, addr, &f))
		panic("pmm_model_free: 0x%llx is not a run start", (unsigned long long)addr);
	size_t n = m->run_len[f];
	for (size_t i = f; i < f + n; i++)
		put(m->used, i, false);
	m->run_len[f] = 0;
	return n;
}

void pmm_model_stats(const struct pmm_model *m, struct pmm_stats *s)
{
	memset(s, 0, sizeof(*s));
	size_t run = 0;
	for (size_t f = 0; f < m->frames; f++) {
		enum pmm_frame_state st = pmm_model_state(m, frame_addr(m, f));
		if (st == PMM_FRAME_UNMANAGED) {
			run = 0;
			continue;
		}
		s->total++;
		if (bit(m->range_first, f))
			run = 0;
		if (st == PMM_FRAME_FREE) {
			s->free++;
			run++;
			s->largest_free_run = MAX(s->largest_free_run, (uint64_t)run);
			continue;
		}
		run = 0;
		if (st == PMM_FRAME_RESERVED)
			s->reserved++;
		else
			s->allocated++;
	}
	s->used = s->allocated + s->reserved;
}
