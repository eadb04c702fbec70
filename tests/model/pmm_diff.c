/* PMM against its reference model, operation by operation (see pmm_diff.h). */
#include "tests/model/pmm_diff.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tests/host/support/host_support.h"

#define FAIL(d, ...) (snprintf((d)->why, sizeof((d)->why), __VA_ARGS__), false)
#define ULL(x) ((unsigned long long)(x))

bool pmm_diff_init(struct pmm_diff *d, const struct memmap_range *usable, size_t count,
		   phys_addr_t floor)
{
	memset(d, 0, sizeof(*d));
	volatile size_t size = 0;
	if (HOST_PANICS(size = pmm_metadata_size(usable, count, floor)))
		return FAIL(d, "pmm_metadata_size panicked: %s", host_panic_message);
	d->metadata = malloc(size ? size : 1);
	if (HOST_PANICS(pmm_init(&d->pmm, usable, count, floor, d->metadata, size)))
		return FAIL(d, "pmm_init panicked: %s", host_panic_message);
	pmm_model_init(&d->model, usable, count, floor);
	return pmm_diff_verify(d);
}

void pmm_diff_destroy(struct pmm_diff *d)
{
	free(d->metadata);
	free(d->live);
	pmm_model_destroy(&d->model);
	memset(d, 0, sizeof(*d));
}

static bool same_stats(struct pmm_diff *d)
{
	struct pmm_stats got, want;
	pmm_stats(&d->pmm, &got, NULL, 0);
	pmm_model_stats(&d->model, &want);
	if (memcmp(&got, &want, sizeof(got)) != 0)
		return FAIL(d, "stats differ: pmm total/free/alloc/resv/largest %llu/%llu/%llu/%llu/%llu, "
			    "model %llu/%llu/%llu/%llu/%llu",
			    ULL(got.total), ULL(got.free), ULL(got.allocated), ULL(got.reserved),
			    ULL(got.largest_free_run), ULL(want.total), ULL(want.free),
			    ULL(want.allocated), ULL(want.reserved), ULL(want.largest_free_run));
	return true;
}

static bool same_frames(struct pmm_diff *d)
{
	for (size_t f = 0; f < d->model.frames; f++) {
		phys_addr_t a = d->model.base + ((phys_addr_t)f << PAGE_SHIFT);
		enum pmm_frame_state got = pmm_frame_state(&d->pmm, a);
		enum pmm_frame_state want = pmm_model_state(&d->model, a);
		if (got != want)
			return FAIL(d, "frame 0x%llx: pmm state %d, model state %d", ULL(a), got, want);
	}
	return true;
}

bool pmm_diff_verify(struct pmm_diff *d)
{
	if (d->check_every > 1 && ++d->unchecked < d->check_every)
		return true; /* the operation itself was compared; the state is, every few steps */
	d->unchecked = 0;
	if (HOST_PANICS(pmm_check(&d->pmm)))
		return FAIL(d, "%s", host_panic_message);
	if (!same_stats(d))
		return false;
	return !d->full_compare || same_frames(d);
}

bool pmm_diff_reserve(struct pmm_diff *d, phys_addr_t start, phys_addr_t end)
{
	if (pmm_model_reserve_would_panic(&d->model, start, end)) {
		if (!HOST_PANICS(pmm_reserve(&d->pmm, start, end, "diff")))
			return FAIL(d, "reserving [0x%llx-0x%llx) over an allocated frame did not panic",
				    ULL(start), ULL(end));
		if (!strstr(host_panic_message, "is allocated"))
			return FAIL(d, "wrong panic for a reservation over allocated frames: %s",
				    host_panic_message);
		return pmm_diff_verify(d);
	}
	volatile size_t got = 0;
	if (HOST_PANICS(got = pmm_reserve(&d->pmm, start, end, "diff")))
		return FAIL(d, "pmm_reserve [0x%llx-0x%llx) panicked: %s", ULL(start), ULL(end),
			    host_panic_message);
	size_t want = pmm_model_reserve(&d->model, start, end);
	if (got != want)
		return FAIL(d, "pmm_reserve [0x%llx-0x%llx) reserved %zu frames, the model %zu",
			    ULL(start), ULL(end), (size_t)got, want);
	return pmm_diff_verify(d);
}

static void remember(struct pmm_diff *d, phys_addr_t addr, size_t frames)
{
	if (d->live_count == d->live_cap) {
		d->live_cap = d->live_cap ? 2 * d->live_cap : 64;
		d->live = realloc(d->live, d->live_cap * sizeof(*d->live));
	}
	d->live[d->live_count++] = (struct pmm_diff_run){ addr, frames };
}

static void forget(struct pmm_diff *d, size_t i)
{
	d->live[i] = d->live[--d->live_count];
}

bool pmm_diff_alloc(struct pmm_diff *d, size_t frames, phys_addr_t align, phys_addr_t limit)
{
	return pmm_diff_alloc_range(d, frames, align, 0, limit);
}

bool pmm_diff_alloc_range(struct pmm_diff *d, size_t frames, phys_addr_t align, phys_addr_t min,
			  phys_addr_t limit)
{
	phys_addr_t got = 0, want = 0;
	int rc_got = min ? pmm_alloc_phys_range(&d->pmm, frames, align, min, limit, &got)
			 : pmm_alloc_phys(&d->pmm, frames, align, limit, &got);
	int rc_want = pmm_model_alloc_range(&d->model, frames, align, min, limit, &want);

	if (rc_got != rc_want || (rc_got == 0 && got != want))
		return FAIL(d, "alloc(%zu frames, align 0x%llx, min 0x%llx, limit 0x%llx): pmm %d "
			    "at 0x%llx, model %d at 0x%llx", frames, ULL(align), ULL(min), ULL(limit),
			    rc_got, ULL(rc_got ? 0 : got), rc_want, ULL(rc_want ? 0 : want));
	if (rc_got == 0)
		remember(d, got, frames);
	return pmm_diff_verify(d);
}

bool pmm_diff_alloc_ptr(struct pmm_diff *d, size_t frames)
{
	void *p = pmm_alloc(&d->pmm, frames);
	phys_addr_t want = 0;
	int rc = pmm_model_alloc(&d->model, frames, PAGE_SIZE, PMM_LIMIT_4GIB, &want);

	if ((p == NULL) != (rc != 0) || (p && (phys_addr_t)(uintptr_t)p != want))
		return FAIL(d, "pmm_alloc(%zu) gave %p, the model %d at 0x%llx", frames, p, rc,
			    ULL(rc ? 0 : want));
	if (p)
		remember(d, (phys_addr_t)(uintptr_t)p, frames);
	return pmm_diff_verify(d);
}

bool pmm_diff_free(struct pmm_diff *d, size_t index)
{
	if (d->live_count == 0)
		return true;
	size_t i = index % d->live_count;
	struct pmm_diff_run run = d->live[i];
	volatile size_t got = 0;

	if (HOST_PANICS(got = pmm_free_phys(&d->pmm, run.addr)))
		return FAIL(d, "freeing live run 0x%llx panicked: %s", ULL(run.addr),
			    host_panic_message);
	size_t want = pmm_model_free(&d->model, run.addr);
	if (got != run.frames || want != run.frames)
		return FAIL(d, "freeing 0x%llx (%zu frames) returned %zu, the model %zu",
			    ULL(run.addr), run.frames, (size_t)got, want);
	forget(d, i);
	return pmm_diff_verify(d);
}

/* The words a panic for this kind of misuse must contain, besides the address. */
static const char *expected_words(enum pmm_model_free_verdict v)
{
	switch (v) {
	case PMM_MODEL_FREE_UNALIGNED:
		return "aligned";
	case PMM_MODEL_FREE_UNMANAGED:
		return "never allocated";
	case PMM_MODEL_FREE_DOUBLE:
		return "double free of frame ";
	case PMM_MODEL_FREE_RESERVED:
		return "reserved";
	default:
		return "inside an allocated run";
	}
}

bool pmm_diff_free_any(struct pmm_diff *d, phys_addr_t addr)
{
	enum pmm_model_free_verdict v = pmm_model_free_verdict(&d->model, addr);

	if (v == PMM_MODEL_FREE_OK) {
		for (size_t i = 0; i < d->live_count; i++)
			if (d->live[i].addr == addr)
				return pmm_diff_free(d, i);
		return FAIL(d, "model says 0x%llx is a run start, but no live run starts there",
			    ULL(addr));
	}

	struct pmm_stats before, after;
	pmm_stats(&d->pmm, &before, NULL, 0);
	if (!HOST_PANICS(pmm_free_phys(&d->pmm, addr)))
		return FAIL(d, "freeing 0x%llx did not panic (model verdict %d)", ULL(addr), v);
	char addr_text[32];
	snprintf(addr_text, sizeof(addr_text), "0x%llx", ULL(addr));
	if (!strstr(host_panic_message, addr_text) || !strstr(host_panic_message, expected_words(v)))
		return FAIL(d, "freeing 0x%llx: panic \"%s\" lacks \"%s\" or \"%s\"", ULL(addr),
			    host_panic_message, addr_text, expected_words(v));
	if (v == PMM_MODEL_FREE_DOUBLE &&
	    strncmp(host_panic_message, "double free of frame ", 21) != 0)
		return FAIL(d, "double free panic reads \"%s\"", host_panic_message);
	pmm_stats(&d->pmm, &after, NULL, 0);
	if (memcmp(&before, &after, sizeof(before)) != 0)
		return FAIL(d, "a refused free of 0x%llx changed the stats", ULL(addr));
	return pmm_diff_verify(d);
}

/* ---- a scenario from bytes ---- */

struct byte_reader {
	const uint8_t *p;
	size_t left;
};

static uint8_t next_byte(struct byte_reader *r)
{
	if (r->left == 0)
		return 0;
	r->left--;
	return *r->p++;
}

#define FRAME ((phys_addr_t)PAGE_SIZE)

/*
 * How big the map is: small ranges (up to 511 frames: a level-1 tree, one
 * bitmap word) keep every step cheap enough to compare every frame; large
 * ones (up to 34,237 frames) and a huge one (up to 264,191: five node
 * levels, three bitmap levels) reach the deep parts of both summaries, with
 * addresses and run sizes scaled to match and pmm_check every few steps.
 */
enum map_size { MAP_SMALL, MAP_LARGE, MAP_HUGE };

static size_t decode_map(struct byte_reader *in, struct memmap_range *r, phys_addr_t *floor,
			 enum map_size *size)
{
	static const phys_addr_t bases[] = { (phys_addr_t)1 << 20, ((phys_addr_t)16 << 20) - 96 * FRAME,
					     ((phys_addr_t)1 << 32) - 64 * FRAME, 0 };
	uint8_t shape = next_byte(in);
	size_t n = (shape & 3) + 1;
	phys_addr_t at = bases[(shape >> 2) & 3];

	*size = (shape & 0xc0) == 0xc0 ? MAP_HUGE : shape & 0x40 ? MAP_LARGE : MAP_SMALL;
	if (*size == MAP_HUGE)
		n = 1;
	for (size_t i = 0; i < n; i++) {
		at += (phys_addr_t)(next_byte(in) % 48) * FRAME; /* a gap, or none: ranges may touch */
		uint8_t b = next_byte(in);
		phys_addr_t len = *size == MAP_HUGE    ? (phys_addr_t)(1 + b) * 1031 + next_byte(in)
				  : *size == MAP_LARGE ? (phys_addr_t)(1 + b * 2) * 67
						       : (phys_addr_t)(1 + b * 2);
		r[i] = (struct memmap_range){ at, at + len * FRAME };
		at += len * FRAME;
	}
	switch ((shape >> 4) & 3) {
	case 0:
		*floor = 0;
		break;
	case 1:
		*floor = (phys_addr_t)1 << 20;
		break;
	default:
		*floor = r[0].start + (phys_addr_t)next_byte(in) * FRAME; /* cuts into the map */
	}
	return n;
}

/*
 * An address somewhere in or around the map: frame starts mostly, sometimes
 * junk. In a small range b picks the frame; in a larger one b picks a
 * 256th of it and a few bits of a the frame near there.
 */
static phys_addr_t decode_addr(const struct memmap_range *r, size_t n, enum map_size size,
			       uint8_t a, uint8_t b)
{
	const struct memmap_range *rr = &r[a % n];
	phys_addr_t frames = (rr->end - rr->start) / FRAME;
	phys_addr_t idx = size == MAP_SMALL ? b % (frames + 2)
					    : MIN(b * (frames + 2) / 256 + (a >> 2) % 8, frames + 1);
	phys_addr_t addr = rr->start + idx * FRAME - (a & 0x80 ? FRAME : 0);
	return (a & 0x40) && (b & 1) ? addr + 0x10 : addr;
}

static bool run_op(struct pmm_diff *d, const struct memmap_range *r, size_t n, enum map_size size,
		   uint8_t op, uint8_t a, uint8_t b)
{
	size_t scale = size == MAP_SMALL ? 1 : size == MAP_LARGE ? 16 : 128;
	static const phys_addr_t aligns[] = { 0, FRAME, 2 * FRAME, 16 * FRAME, 64 << 10,
					      1 << 20, 4 << 20, 3 * FRAME };
	static const phys_addr_t limits[] = { PMM_LIMIT_NONE, PMM_LIMIT_4GIB, PMM_LIMIT_16MIB,
					      ((phys_addr_t)1 << 20) + 200 * FRAME };
	static const phys_addr_t mins[] = { ((phys_addr_t)1 << 20) + 37 * FRAME + 5, 16 << 20,
					    PMM_LIMIT_4GIB, ((phys_addr_t)1 << 32) + (3 << 20) };
	switch (op % 8) {
	case 0:
		return pmm_diff_alloc(d, 1 + a % 8, aligns[b & 7], limits[(b >> 3) & 3]);
	case 1:
		return pmm_diff_alloc_range(d, 1 + a % 8, aligns[b & 7], mins[(b >> 5) & 3],
					    limits[(b >> 3) & 3]);
	case 2:
		return pmm_diff_alloc(d, 1 + a * (1 + (b >> 6)) * scale, aligns[b & 7],
				      limits[(b >> 3) & 3]);
	case 3:
		return pmm_diff_alloc_ptr(d, a % 64);
	case 4:
	case 5:
		return pmm_diff_free(d, (size_t)a | (size_t)b << 8);
	case 6:
		return pmm_diff_free_any(d, decode_addr(r, n, size, a, b));
	default: {
		phys_addr_t s = decode_addr(r, n, size, a, b);
		return pmm_diff_reserve(d, s, s + (phys_addr_t)(op >> 3) * 0x800);
	}
	}
}

bool pmm_diff_run_bytes(const uint8_t *data, size_t size, char *why, size_t why_size)
{
	struct byte_reader in = { data, size };
	struct memmap_range r[4];
	phys_addr_t floor;
	enum map_size map;
	size_t n = decode_map(&in, r, &floor, &map);
	phys_addr_t eff = MAX(floor, FRAME);
	bool empty = true;
	for (size_t i = 0; i < n; i++)
		empty = empty && r[i].end <= eff;

	static struct pmm_diff d;
	bool ok = pmm_diff_init(&d, r, n, floor);
	if (empty) {
		/* The one init failure the contract has: nothing to manage. */
		bool right = !ok && strstr(d.why, "no usable memory above");
		if (!right)
			snprintf(why, why_size, "a map with nothing above the floor: %s",
				 ok ? "init succeeded" : d.why);
		pmm_diff_destroy(&d);
		return right;
	}
	d.full_compare = map == MAP_SMALL;
	d.check_every = map == MAP_SMALL ? 1 : map == MAP_LARGE ? 8 : 32;
	for (int i = 0; ok && i < 3; i++) {
		phys_addr_t s = decode_addr(r, n, map, next_byte(&in), next_byte(&in));
		ok = pmm_diff_reserve(&d, s, s + (phys_addr_t)next_byte(&in) * 0x400);
	}
	while (ok && in.left >= 3) {
		uint8_t op = next_byte(&in), a = next_byte(&in), b = next_byte(&in);
		ok = run_op(&d, r, n, map, op, a, b);
	}
	d.check_every = 1;
	ok = ok && pmm_diff_verify(&d);
	while (ok && d.live_count)
		ok = pmm_diff_free(&d, 0);
	if (!ok)
		snprintf(why, why_size, "%s", d.why);
	pmm_diff_destroy(&d);
	return ok;
}
