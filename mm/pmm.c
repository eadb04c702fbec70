/*
 * Physical memory manager: bit planes per region, a free-frame bitmap that
 * finds the lowest free frame with a few bit scans, and a run tree that
 * finds the lowest-addressed free run of n >= 2 frames in one descent (see
 * mm/pmm.h and the layout in mm/pmm_internal.h).
 */
#include "mm/pmm.h"

#include "lib/panic.h"
#include "lib/string.h"
#include "mm/pmm_internal.h"

struct pmm kernel_pmm;

/* phys_addr_t is unsigned long on the 64-bit host and unsigned long long on i386. */
#define PA(x) ((unsigned long long)(x))

_Static_assert((((PMM_MAX_PHYS >> PAGE_SHIFT) - 1) >> (6 + PMM_FANOUT_SHIFT * PMM_MAX_LEVELS)) == 0,
	       "PMM_MAX_LEVELS node levels must cover a region of PMM_MAX_PHYS bytes");
_Static_assert((((PMM_MAX_PHYS >> PAGE_SHIFT) - 1) >> (6 * (PMM_AVAIL_LEVELS + 1))) == 0,
	       "PMM_AVAIL_LEVELS bitmap levels must cover a region of PMM_MAX_PHYS bytes");
_Static_assert((PMM_MAX_PHYS >> PAGE_SHIFT) <= UINT32_MAX,
	       "frame counts in a region must fit a node's 32-bit fields");

/* ---- bits and words ---- */

#define ALL_ONES (~(uint64_t)0)

static inline unsigned ctz64(uint64_t x) { return (unsigned)__builtin_ctzll(x); }
static inline unsigned clz64(uint64_t x) { return (unsigned)__builtin_clzll(x); }
static inline unsigned popcount64(uint64_t x) { return (unsigned)__builtin_popcountll(x); }

/* Bits [lo, hi) of a word, 0 <= lo < hi <= 64. */
static inline uint64_t bit_range(unsigned lo, unsigned hi)
{
	uint64_t below_hi = hi >= 64 ? ALL_ONES : ((uint64_t)1 << hi) - 1;
	return below_hi & (ALL_ONES << lo);
}

static inline uint64_t free_word(const struct pmm_region *r, size_t w)
{
	return r->idle[w] & ~r->mark[w];
}

static inline uint64_t body_word(const struct pmm_region *r, size_t w)
{
	return ~(r->idle[w] | r->mark[w]);
}

static inline uint64_t reserved_word(const struct pmm_region *r, size_t w)
{
	return r->idle[w] & r->mark[w];
}

static inline uint64_t in_run_word(const struct pmm_region *r, size_t w)
{
	return ~r->idle[w];
}

/* The bits of word w that stand for real frames (the last word may be partial). */
static inline uint64_t valid_bits(const struct pmm_region *r, size_t w)
{
	size_t left = r->frames - w * PMM_WORD_FRAMES;
	return left >= PMM_WORD_FRAMES ? ALL_ONES : bit_range(0, (unsigned)left);
}

static inline unsigned free_prefix(uint64_t fw) { return fw == ALL_ONES ? 64 : ctz64(~fw); }
static inline unsigned free_suffix(uint64_t fw) { return fw == ALL_ONES ? 64 : clz64(~fw); }

/*
 * Longest run of set bits, by binary lifting: starts[k] marks the bits that
 * begin a run of at least 2^k set bits, and the answer is built from the
 * largest power of two down, each step keeping the run starts that still
 * reach len + 2^k bits. About 20 operations whatever the word.
 */
static unsigned longest_run(uint64_t fw)
{
	uint64_t starts[6];
	unsigned len = 0;
	uint64_t at = ALL_ONES; /* bits that begin a run of at least len set bits */

	if (fw == ALL_ONES)
		return 64;
	starts[0] = fw;
	for (unsigned k = 1; k < 6; k++)
		starts[k] = starts[k - 1] & (starts[k - 1] >> (1u << (k - 1)));
	for (int k = 5; k >= 0; k--) {
		uint64_t longer = at & (starts[k] >> len);
		if (longer) {
			at = longer;
			len += 1u << k;
		}
	}
	return len;
}

/* A longest run as the tree stores it: 0 below PMM_MIN_TRACKED_RUN. */
static inline uint32_t tracked(uint32_t run)
{
	return run >= PMM_MIN_TRACKED_RUN ? run : 0;
}

/* The tree's summary of a word's free bits; a word of lone free frames costs two operations. */
static inline uint8_t leaf_run(uint64_t fw)
{
	_Static_assert(PMM_MIN_TRACKED_RUN == 2, "the shortcut below tests for two adjacent free frames");
	return (fw & (fw >> 1)) ? (uint8_t)longest_run(fw) : 0;
}

/* Bit i of the result is set when bits i .. i+n-1 of fw are all set (1 <= n <= 64). */
static uint64_t run_starts(uint64_t fw, size_t n)
{
	size_t have = 1;
	while (have < n && fw) {
		size_t step = MIN(have, n - have);
		fw &= fw >> step;
		have += step;
	}
	return fw;
}

/* Sets (value true) or clears bits [from, from + n) of a plane. */
static void plane_fill(uint64_t *plane, size_t from, size_t n, bool value)
{
	size_t end = from + n;
	while (from < end) {
		size_t w = from / PMM_WORD_FRAMES;
		unsigned lo = from % PMM_WORD_FRAMES;
		unsigned hi = (unsigned)MIN((size_t)PMM_WORD_FRAMES, end - w * PMM_WORD_FRAMES);
		uint64_t m = bit_range(lo, hi);
		plane[w] = value ? plane[w] | m : plane[w] & ~m;
		from = w * PMM_WORD_FRAMES + hi;
	}
}

static inline void plane_put(uint64_t *plane, size_t i, bool value)
{
	uint64_t m = (uint64_t)1 << (i % PMM_WORD_FRAMES);
	plane[i / PMM_WORD_FRAMES] = value ? plane[i / PMM_WORD_FRAMES] | m
					   : plane[i / PMM_WORD_FRAMES] & ~m;
}

static inline bool plane_get(const uint64_t *plane, size_t i)
{
	return (plane[i / PMM_WORD_FRAMES] >> (i % PMM_WORD_FRAMES)) & 1;
}

static enum pmm_frame_state frame_state(const struct pmm_region *r, size_t i)
{
	bool idle = plane_get(r->idle, i), mark = plane_get(r->mark, i);
	if (idle)
		return mark ? PMM_FRAME_RESERVED : PMM_FRAME_FREE;
	return mark ? PMM_FRAME_RUN_START : PMM_FRAME_RUN_BODY;
}

typedef uint64_t (*word_fn)(const struct pmm_region *r, size_t w);

/* The first frame at or after `from` whose bit in kind() is clear, or r->frames. */
static inline size_t scan_while(const struct pmm_region *r, size_t from, word_fn kind)
{
	while (from < r->frames) {
		size_t w = from / PMM_WORD_FRAMES;
		uint64_t stop = ~kind(r, w) & (ALL_ONES << (from % PMM_WORD_FRAMES));
		if (stop)
			return MIN(w * PMM_WORD_FRAMES + ctz64(stop), r->frames);
		from = (w + 1) * PMM_WORD_FRAMES;
	}
	return r->frames;
}

/* ---- the free-frame bitmap ---- */

/*
 * Word w has gained (has_free) or lost its last free frame: sets or clears
 * its bit, and the bits above it as far as a bitmap word changes between
 * zero and non-zero. Nothing to do when the bit already says so.
 */
static void avail_update(struct pmm_region *r, size_t w, bool has_free)
{
	for (unsigned k = 0; k < r->avail_levels; k++, w /= 64) {
		uint64_t *word = &r->avail[k][w / 64], bit = (uint64_t)1 << (w % 64);
		uint64_t was = *word, now = has_free ? was | bit : was & ~bit;
		if (now == was)
			return;
		*word = now;
		if ((was != 0) == (now != 0))
			return; /* the level above still reads the same */
	}
}

/* The lowest free frame under entry i of bitmap level k, whose bit is set: the lowest set bits down. */
static inline size_t first_free_under(const struct pmm_region *r, unsigned k, size_t i)
{
	while (k-- > 0)
		i = i * 64 + ctz64(r->avail[k][i]);
	return i * PMM_WORD_FRAMES + ctz64(free_word(r, i));
}

/*
 * The lowest free frame of r at or after frame f (< r->frames), or r->frames
 * when there is none: the rest of f's word, then up the bitmap to the first
 * level with a set bit past where the search came from, then down along the
 * lowest set bits. From frame 0 (pmm_alloc_frame) it goes straight down from
 * the top word. O(PMM_AVAIL_LEVELS) word reads.
 */
static size_t next_free(const struct pmm_region *r, size_t f)
{
	unsigned k = r->avail_levels - 1;
	if (f == 0)
		return r->avail[k][0] ? first_free_under(r, k, ctz64(r->avail[k][0])) : r->frames;

	size_t w = f / PMM_WORD_FRAMES;
	uint64_t fw = free_word(r, w) & (ALL_ONES << (f % PMM_WORD_FRAMES));
	if (fw)
		return w * PMM_WORD_FRAMES + ctz64(fw);
	size_t i = w + 1; /* first entry of level k still in question */
	for (k = 0; k < r->avail_levels; k++, i = i / 64 + 1) { /* the rest of word i / 64 is read */
		if (i >= r->avail_bits[k])
			break; /* past the end of this level, and so of the ones above */
		uint64_t bits = r->avail[k][i / 64] & (ALL_ONES << (i % 64));
		if (bits)
			return first_free_under(r, k, ALIGN_DOWN(i, (size_t)64) + ctz64(bits));
	}
	return r->frames;
}

/* ---- the run tree ---- */

static inline size_t level_span(unsigned level)
{
	return (size_t)PMM_WORD_FRAMES << (PMM_FANOUT_SHIFT * level);
}

/*
 * Frames of entry i at `level` that lie in the region: its span, or less
 * for the last entry of a level when the region ends inside it.
 */
static inline uint32_t entry_frames(const struct pmm_region *r, unsigned level, size_t i)
{
	size_t start = i * level_span(level);
	return (uint32_t)MIN(level_span(level), r->frames - start);
}

/* The free run that ends at the word's last frame, given its v frames (1 to 64). */
static inline unsigned word_suffix(uint64_t fw, unsigned v)
{
	return free_suffix(fw << (PMM_WORD_FRAMES - v));
}

/* The longest free run of a word with v frames that touches neither end, as the tree keeps it. */
static inline uint8_t word_mid(uint64_t fw, unsigned v)
{
	unsigned pre = free_prefix(fw), suf = word_suffix(fw, v);
	if (pre >= v)
		return 0; /* wholly free */
	/* fw & (fw + 1) clears the run at bit 0; the range drops the run that ends the word. */
	return leaf_run(fw & (fw + 1) & bit_range(0, v - suf));
}

/* A word's summary from its free bits, its middle run being mid. */
static inline struct pmm_node word_node(const struct pmm_region *r, size_t w, uint64_t fw,
					 uint32_t mid)
{
	return (struct pmm_node){ free_prefix(fw), word_suffix(fw, entry_frames(r, 0, w)), mid };
}

/* Summary of entry i at `level`: a word (level 0) or a node. */
static inline struct pmm_node summary(const struct pmm_region *r, unsigned level, size_t i)
{
	if (level == 0)
		return word_node(r, i, free_word(r, i), r->leaf_mid[i]);
	return r->nodes[level][i];
}

/* The longest free run in an entry, as far as the tree knows (lone frames show as 0). */
static inline uint32_t node_max(struct pmm_node s)
{
	return MAX(s.mid, MAX(s.pre, s.suf));
}

static inline bool same_node(struct pmm_node a, struct pmm_node b)
{
	return a.pre == b.pre && a.suf == b.suf && a.mid == b.mid;
}

/* Children of node i at level l >= 1: [*first, *first + count), the count returned. */
static inline size_t children(const struct pmm_region *r, unsigned l, size_t i, size_t *first)
{
	*first = i << PMM_FANOUT_SHIFT;
	return MIN((size_t)PMM_FANOUT, r->count[l - 1] - *first);
}

/*
 * A node's summary folded from its children left to right. `run` is the
 * free run that reaches the next child's start; a child that is not wholly
 * free ends it with its prefix (the node's prefix if it is the first such
 * child, a middle run otherwise) and starts a new one with its suffix.
 */
struct fold {
	uint32_t run, pre, mid;
	bool broken; /* a child that is not wholly free has been seen */
};

static inline void fold_child(struct fold *f, struct pmm_node s, uint32_t frames)
{
	/* Written as selects rather than branches: which way each child goes is data. */
	bool full = s.pre == frames;
	uint32_t joined = f->run + s.pre;
	uint32_t inner = full ? 0 : MAX(s.mid, f->broken ? joined : 0);
	f->mid = MAX(f->mid, inner);
	f->pre = f->broken || full ? f->pre : joined;
	f->broken = f->broken || !full;
	f->run = full ? joined : s.suf; /* a wholly free child: joined = run + frames */
}

static inline struct pmm_node fold_end(const struct fold *f)
{
	if (!f->broken)
		return (struct pmm_node){ f->run, f->run, 0 }; /* wholly free */
	return (struct pmm_node){ f->pre, f->run, tracked(f->mid) };
}

/*
 * A node of level >= 2 from its child nodes (at most PMM_FANOUT, in order),
 * the last one having last_frames frames and the others span. When none is
 * wholly free, which is the rule in fragmented memory, every middle-run
 * candidate (a child's middle run, a child's suffix joined to the next
 * one's prefix) stands on its own, and they are taken in one pass with no
 * run carried from child to child; otherwise the children are folded.
 * (For words the same split measured slower: it is not used there.)
 */
static struct pmm_node combine_nodes(const struct pmm_node *ch, size_t count, uint32_t span,
					uint32_t last_frames)
{
	uint32_t mid = ch[0].mid;
	bool any_full = ch[0].pre == (count == 1 ? last_frames : span);

	for (size_t k = 1; k < count; k++) {
		mid = MAX(mid, MAX(ch[k].mid, ch[k - 1].suf + ch[k].pre));
		any_full = any_full || ch[k].pre == (k == count - 1 ? last_frames : span);
	}
	if (!any_full)
		return (struct pmm_node){ ch[0].pre, ch[count - 1].suf, tracked(mid) };

	struct fold f = { 0, 0, 0, false };
	for (size_t k = 0; k + 1 < count; k++)
		fold_child(&f, ch[k], span);
	fold_child(&f, ch[count - 1], last_frames);
	return fold_end(&f);
}

/*
 * Node i at level >= 1 from all its children. The node ends where its last
 * child ends: the region's end for the last node of a level, whose last
 * child may be short.
 */
static struct pmm_node combine(const struct pmm_region *r, unsigned level, size_t i)
{
	size_t first, count = children(r, level, i, &first);
	uint32_t span = (uint32_t)level_span(level - 1);
	uint32_t last_frames = entry_frames(r, level - 1, first + count - 1);

	if (level > 1)
		return combine_nodes(r->nodes[level - 1] + first, count, span, last_frames);

	struct fold f = { 0, 0, 0, false };
	for (size_t w = first; w < first + count - 1; w++) {
		uint64_t fw = free_word(r, w);
		fold_child(&f, (struct pmm_node){ free_prefix(fw), free_suffix(fw), r->leaf_mid[w] },
			   span);
	}
	fold_child(&f, summary(r, 0, first + count - 1), last_frames);
	return fold_end(&f);
}

/* The free run that ends where child c (at `level`) starts, counted back to child `first`. */
static uint32_t run_before(const struct pmm_region *r, unsigned level, size_t c, size_t first)
{
	uint32_t run = 0, span = (uint32_t)level_span(level); /* no child before c is short */
	for (size_t j = c; j-- > first; run += span) {
		struct pmm_node s = summary(r, level, j);
		if (s.pre != span)
			return run + s.suf;
	}
	return run;
}

/* The free run that starts where child c (at `level`) ends, up to child `end` (excluded). */
static uint32_t run_after(const struct pmm_region *r, unsigned level, size_t c, size_t end)
{
	uint32_t run = 0;
	for (size_t j = c + 1; j < end; j++) {
		struct pmm_node s = summary(r, level, j);
		uint32_t frames = entry_frames(r, level, j);
		if (s.pre != frames)
			return run + s.pre;
		run += frames;
	}
	return run;
}

/* Where child c sits in its parent, and the free runs on either side of it. */
struct child_place {
	uint32_t frames;               /* child c's frames */
	uint32_t left, right;          /* free frames right before / right after child c */
	bool left_open, right_open;    /* those runs reach the parent's start / end */
};

/* The longest run that goes through a child s placed at p, touching neither end of the parent. */
static uint32_t mid_through(struct pmm_node s, const struct child_place *p)
{
	if (s.pre == p->frames) /* wholly free: one run across it */
		return p->left_open || p->right_open ? 0 : tracked(p->left + p->frames + p->right);
	uint32_t m = s.mid;
	if (!p->left_open)
		m = MAX(m, p->left + s.pre);
	if (!p->right_open)
		m = MAX(m, s.suf + p->right);
	return tracked(m);
}

/*
 * The candidates for a parent's middle run that go through one child: of
 * those that grew, the largest new value; of those that shrank, the largest
 * old one. The others did not change, and neither did the parent's runs
 * elsewhere.
 */
struct mid_change {
	uint32_t grown, shrunk;
};

static inline void mid_note(struct mid_change *m, uint32_t was, uint32_t now)
{
	if (now > was)
		m->grown = MAX(m->grown, now);
	else if (now < was)
		m->shrunk = MAX(m->shrunk, was);
}

/*
 * Node p of level l after its child c (an index at level l - 1) went from
 * `was` to `now`, every other child unchanged, old being p's summary before.
 * Only the runs through child c can change. The node's prefix and suffix
 * follow from the child's where the child reaches that end of the node
 * (every child between is wholly free, which the old prefix and suffix
 * tell); a neighbour is read only when a run through c that stops short of
 * the node's ends changed. The middle run follows too, unless the longest
 * one went through c and shrank: then this returns false and the caller
 * recombines all the children. O(1) in the common cases (a fill moves only
 * suffixes), O(PMM_FANOUT) at worst.
 */
static bool update_node(const struct pmm_region *r, unsigned l, size_t c, struct pmm_node old,
			struct pmm_node was, struct pmm_node now, struct pmm_node *out)
{
	size_t p = c >> PMM_FANOUT_SHIFT, first, count = children(r, l, p, &first);
	uint32_t span = (uint32_t)level_span(l - 1), before = (uint32_t)(c - first) * span;
	struct child_place at = { .frames = entry_frames(r, l - 1, c) };
	uint32_t after = entry_frames(r, l, p) - before - at.frames; /* frames after child c */
	struct mid_change m = { 0, 0 };

	at.left_open = old.pre >= before;
	at.right_open = old.suf >= after;
	*out = old;
	if (was.pre == at.frames || now.pre == at.frames) {
		/* Wholly free before or after: its prefix and suffix join or split. */
		bool full = now.pre == at.frames;
		at.left = at.left_open ? before : run_before(r, l - 1, c, first);
		at.right = at.right_open ? after : run_after(r, l - 1, c, first + count);
		if (at.left_open)
			out->pre = at.left + (full ? at.frames + at.right : now.pre);
		if (at.right_open)
			out->suf = (full ? at.left + at.frames : now.suf) + at.right;
		mid_note(&m, mid_through(was, &at), mid_through(now, &at));
	} else {
		mid_note(&m, was.mid, now.mid);
		if (was.pre != now.pre) {
			if (at.left_open) {
				out->pre = old.pre - was.pre + now.pre;
			} else {
				uint32_t left = run_before(r, l - 1, c, first);
				mid_note(&m, left + was.pre, left + now.pre);
			}
		}
		if (was.suf != now.suf) {
			if (at.right_open) {
				out->suf = old.suf - was.suf + now.suf;
			} else {
				uint32_t right = run_after(r, l - 1, c, first + count);
				mid_note(&m, was.suf + right, now.suf + right);
			}
		}
	}
	uint32_t grown = tracked(m.grown), shrunk = tracked(m.shrunk);
	if (grown >= old.mid)
		out->mid = grown; /* nothing elsewhere is longer */
	else if (shrunk >= old.mid)
		return false; /* the longest may have been the one that shrank */
	return true;
}

/*
 * update_node()'s commonest case, on its own to be quick: only the child's
 * suffix moved (a fill, or first fit taking the start of the run that ends
 * a word) and every child after it is wholly free, so the node's suffix
 * moves by as much and nothing else changes. (was and now differ, so with
 * the same prefix neither is wholly free: that would make them equal.)
 */
static inline bool suffix_moved(const struct pmm_region *r, unsigned l, size_t c,
				struct pmm_node old, struct pmm_node was, struct pmm_node now)
{
	if (was.pre != now.pre || was.mid != now.mid)
		return false;
	size_t span = level_span(l - 1), c_end = MIN((c + 1) * span, r->frames);
	size_t p_end = MIN(ALIGN_UP(c + 1, (size_t)PMM_FANOUT) * span, r->frames);
	return old.suf >= p_end - c_end;
}

/*
 * Brings the nodes above entry c of level l - 1 up to date after its
 * summary went from `was` to `now`: one update_node() per level, stopping
 * at the first node that comes out unchanged, since nothing above it can
 * change.
 */
static void refresh_path(struct pmm_region *r, unsigned l, size_t c, struct pmm_node was,
			 struct pmm_node now)
{
	for (; l <= r->levels; l++) {
		size_t p = c >> PMM_FANOUT_SHIFT;
		struct pmm_node old = r->nodes[l][p], fresh;
		if (suffix_moved(r, l, c, old, was, now)) {
			fresh = old;
			fresh.suf = old.suf - was.suf + now.suf;
		} else if (!update_node(r, l, c, old, was, now, &fresh)) {
			fresh = combine(r, l, p);
		}
		if (same_node(old, fresh))
			return;
		r->nodes[l][p] = fresh;
		was = old;
		now = fresh;
		c = p;
	}
}

/*
 * Brings the nodes up to date after the summaries of words [lo, hi]
 * changed: each level's nodes above the range recombined from all their
 * children, until the range narrows to one node, above which
 * refresh_path() takes over. Once a level comes out unchanged nothing
 * above it can change.
 */
static void refresh_nodes(struct pmm_region *r, size_t lo, size_t hi)
{
	for (unsigned l = 1; l <= r->levels; l++) {
		bool changed = false;
		lo >>= PMM_FANOUT_SHIFT;
		hi >>= PMM_FANOUT_SHIFT;
		if (lo == hi) {
			struct pmm_node old = r->nodes[l][lo], fresh = combine(r, l, lo);
			if (same_node(old, fresh))
				return;
			r->nodes[l][lo] = fresh;
			refresh_path(r, l + 1, lo, old, fresh);
			return;
		}
		for (size_t i = lo; i <= hi; i++) {
			struct pmm_node fresh = combine(r, l, i);
			changed = changed || !same_node(fresh, r->nodes[l][i]);
			r->nodes[l][i] = fresh;
		}
		if (!changed)
			return;
	}
}

/* Both summaries after frames [a, b) changed state. */
static void refresh_range(struct pmm_region *r, size_t a, size_t b)
{
	size_t lo = a / PMM_WORD_FRAMES, hi = (b - 1) / PMM_WORD_FRAMES;

	for (size_t w = lo; w <= hi; w++) {
		uint64_t fw = free_word(r, w);
		/* A word wholly free or wholly not (the inside of a long run) has no middle run. */
		r->leaf_mid[w] = fw == 0 || fw == ALL_ONES ? 0 : word_mid(fw, entry_frames(r, 0, w));
		avail_update(r, w, fw != 0);
	}
	refresh_nodes(r, lo, hi);
}

/*
 * Both summaries after the frames of word w alone changed, its free bits
 * having been old_fw. The tree is left alone when the word's prefix,
 * suffix and middle run read the same: the common case for a single frame
 * taken from or given back to a fragmented word.
 */
static void refresh_word(struct pmm_region *r, size_t w, uint64_t old_fw)
{
	uint64_t fw = free_word(r, w);

	if ((fw != 0) != (old_fw != 0))
		avail_update(r, w, fw != 0);
	struct pmm_node was = word_node(r, w, old_fw, r->leaf_mid[w]);
	struct pmm_node now = word_node(r, w, fw, word_mid(fw, entry_frames(r, 0, w)));
	if (same_node(was, now))
		return;
	r->leaf_mid[w] = (uint8_t)now.mid;
	refresh_path(r, 1, w, was, now);
}

static inline struct pmm_node root(const struct pmm_region *r)
{
	return summary(r, r->levels, 0);
}

/* The longest free run of r: the tree's, or a lone frame the tree does not record. */
static size_t largest_run(const struct pmm_region *r)
{
	size_t max = node_max(root(r));
	return max ? max : MIN(r->free, (size_t)1);
}

__attribute__((noreturn, cold))
static void missing_run(const struct pmm_region *r, unsigned l, size_t idx, size_t n)
{
	panic("pmm: region at 0x%llx: tree node %zu at level %u promises a run of %zu frames "
	      "its children do not hold", PA(r->base), idx, l, n);
}

/*
 * The lowest-addressed run of n >= 2 free frames in r, which the caller
 * knows exists (node_max(root) >= n): one descent from the root, taking at
 * each level the first child whose run starts in the carry (the free
 * frames that end where the child starts) plus its prefix, or lies inside
 * it (its middle run or suffix holds n). Such a child holds the run, so
 * the descent never backtracks: O(PMM_FANOUT * levels).
 */
static size_t descend(const struct pmm_region *r, size_t n)
{
	size_t idx = 0, carry = 0;

	for (unsigned l = r->levels; l >= 2; l--) {
		size_t c, end = children(r, l, idx, &c);
		size_t span = level_span(l - 1);
		const struct pmm_node *child = r->nodes[l - 1];
		for (end += c;; c++) {
			if (c == end)
				missing_run(r, l, idx, n);
			struct pmm_node s = child[c];
			if (carry + s.pre >= n)
				return c * span - carry;
			if (s.mid >= n || s.suf >= n)
				break;
			/* Past a short last child the carry is never used. */
			carry = s.pre == span ? carry + span : s.suf;
		}
		idx = c;
	}
	if (r->levels >= 1) {
		/* The words of node idx at level 1: prefix and suffix come from the bits. */
		size_t w, end = children(r, 1, idx, &w);
		for (end += w;; w++) {
			if (w == end)
				missing_run(r, 1, idx, n);
			uint64_t fw = free_word(r, w);
			unsigned pre = free_prefix(fw);
			if (carry + pre >= n)
				return w * PMM_WORD_FRAMES - carry;
			if (r->leaf_mid[w] >= n)
				break;
			unsigned suf = word_suffix(fw, entry_frames(r, 0, w));
			if (suf >= n)
				break;
			carry = pre == PMM_WORD_FRAMES ? carry + PMM_WORD_FRAMES : suf;
		}
		idx = w;
	}
	/* Word idx holds the run; none starts in the carry (carry + prefix < n). */
	return idx * PMM_WORD_FRAMES + ctz64(run_starts(free_word(r, idx), n));
}

/*
 * The leftmost run of n free frames that lies inside word w, counting only
 * frames at or after `from`; otherwise updates *carry to the free frames
 * that end at the word's end. A run that begins in the carry was already
 * ruled out by the caller (carry + the word's prefix < n), and so was a
 * word with every frame free.
 */
static bool search_word(const struct pmm_region *r, size_t w, size_t from, size_t n,
			size_t *carry, size_t *found)
{
	size_t start = w * PMM_WORD_FRAMES;
	uint64_t fw = free_word(r, w);

	if (from > start)
		fw &= ALL_ONES << (from - start);
	if (n <= PMM_WORD_FRAMES) {
		uint64_t starts = run_starts(fw, n);
		if (starts) {
			*found = start + ctz64(starts);
			return true;
		}
	}
	/* Never all free here: a free word is judged by its summary in search_node. */
	*carry = word_suffix(fw, entry_frames(r, 0, w));
	return false;
}

/*
 * The leftmost run of n >= 2 free frames that starts at or after `from`,
 * within entry idx of `level`, given *carry free frames ending right before
 * it. A node wholly at or after `from` is judged by its summary: the run
 * either starts in the carry (carry + prefix >= n), lies inside (middle run
 * or suffix >= n: descend), or is not there (the carry moves on). Only the
 * node holding `from` is opened without that test, so the search visits
 * O(levels) nodes and scans at most PMM_FANOUT children in each.
 */
static bool search_node(const struct pmm_region *r, unsigned level, size_t idx, size_t from,
			size_t n, size_t *carry, size_t *found)
{
	size_t span = level_span(level), start = idx * span;

	if (start + span <= from) {
		*carry = 0;
		return false;
	}
	if (start >= from) {
		struct pmm_node s = summary(r, level, idx);
		if (*carry + s.pre >= n) {
			*found = start - *carry;
			return true;
		}
		if (s.mid < n && s.suf < n) {
			*carry = s.pre == span ? *carry + span : s.suf;
			return false;
		}
	}
	if (level == 0)
		return search_word(r, idx, from, n, carry, found);

	size_t first, count = children(r, level, idx, &first);
	for (size_t c = first; c < first + count; c++)
		if (search_node(r, level - 1, c, from, n, carry, found))
			return true;
	if (count < PMM_FANOUT)
		*carry = 0; /* the region ends inside this node */
	return false;
}

/* The leftmost run of n free frames of r starting at frame `from` or later. */
static bool search(const struct pmm_region *r, size_t from, size_t n, size_t *found)
{
	if (n == 1) {
		*found = next_free(r, from);
		return *found < r->frames;
	}
	if (from == 0) {
		*found = descend(r, n); /* region_find checked the root */
		return true;
	}
	size_t carry = 0;
	return search_node(r, r->levels, 0, from, n, &carry, found);
}

/*
 * First fit in one region with alignment (in frames, a power of two, of the
 * absolute frame number), a lowest start (absolute frame number) and a limit
 * (absolute frame number the run must not reach past). The first fit from
 * `pos` either is aligned (done), or ends past the limit (nothing later can
 * do better), or moves `pos` to the next aligned frame after its start, past
 * which the next search looks.
 */
static bool region_find(const struct pmm_region *r, size_t n, uint64_t align, uint64_t min_pfn,
			uint64_t limit_pfn, size_t *idx)
{
	if (n > r->free || (n > 1 && node_max(root(r)) < n))
		return false;

	uint64_t base_pfn = r->base >> PAGE_SHIFT;
	uint64_t end_pfn = MIN(base_pfn + r->frames, limit_pfn);
	uint64_t pos = ALIGN_UP(MAX(base_pfn, min_pfn), align);

	while (pos < end_pfn && end_pfn - pos >= n) {
		size_t found;
		if (!search(r, (size_t)(pos - base_pfn), n, &found))
			return false;
		uint64_t abs = base_pfn + found;
		if (abs < pos) /* a broken summary; looping on it would never end */
			panic("pmm: region at 0x%llx: search from frame 0x%llx found 0x%llx below it",
			      PA(r->base), PA(pos), PA(abs));
		if (abs + n > end_pfn)
			return false;
		if (IS_ALIGNED(abs, align)) {
			*idx = found;
			return true;
		}
		pos = ALIGN_UP(abs, align);
	}
	return false;
}

/* ---- layout of the metadata ---- */

struct region_layout {
	size_t words;
	unsigned levels, avail_levels;
	size_t count[PMM_MAX_LEVELS + 1];
	size_t avail_bits[PMM_AVAIL_LEVELS];
	size_t bytes; /* all of it: the region struct, both planes, the bitmap, the tree */
};

static inline size_t align8(size_t x) { return ALIGN_UP(x, (size_t)8); }

/* Words of 64 bits that hold `bits` bits. */
static inline size_t words_for(size_t bits) { return (bits + 63) / 64; }

static void layout_region(size_t frames, struct region_layout *lo)
{
	memset(lo, 0, sizeof(*lo));
	lo->words = (frames + PMM_WORD_FRAMES - 1) / PMM_WORD_FRAMES;
	lo->count[0] = lo->words;
	while (lo->count[lo->levels] > 1) {
		ASSERT(lo->levels < PMM_MAX_LEVELS);
		lo->count[lo->levels + 1] = (lo->count[lo->levels] + PMM_FANOUT - 1) >> PMM_FANOUT_SHIFT;
		lo->levels++;
	}
	lo->avail_bits[0] = lo->words;
	lo->avail_levels = 1;
	while (lo->avail_bits[lo->avail_levels - 1] > 64) {
		ASSERT(lo->avail_levels < PMM_AVAIL_LEVELS);
		lo->avail_bits[lo->avail_levels] = words_for(lo->avail_bits[lo->avail_levels - 1]);
		lo->avail_levels++;
	}
	lo->bytes = align8(sizeof(struct pmm_region)) + 2 * lo->words * sizeof(uint64_t) +
		    align8(lo->words);
	for (unsigned k = 0; k < lo->avail_levels; k++)
		lo->bytes += words_for(lo->avail_bits[k]) * sizeof(uint64_t);
	for (unsigned l = 1; l <= lo->levels; l++)
		lo->bytes += align8(lo->count[l] * sizeof(struct pmm_node));
}

static phys_addr_t effective_floor(phys_addr_t floor)
{
	floor = MIN(MAX(floor, (phys_addr_t)PAGE_SIZE), PMM_MAX_PHYS);
	return ALIGN_UP(floor, (phys_addr_t)PAGE_SIZE);
}

/* The managed part [*start, *end) of a usable range: at or above floor, below PMM_MAX_PHYS. */
static bool clip_range(const struct memmap_range *u, phys_addr_t floor, phys_addr_t *start,
		       phys_addr_t *end)
{
	*start = MAX(u->start, floor);
	*end = MIN(u->end, PMM_MAX_PHYS);
	return *start < *end;
}

/* Panics unless the ranges are what memmap_usable() produces, and some frame is manageable. */
static void validate_ranges(const struct memmap_range *usable, size_t count, phys_addr_t floor)
{
	bool any = false;
	phys_addr_t s, e;

	for (size_t i = 0; i < count; i++) {
		const struct memmap_range *u = &usable[i];
		if (!IS_ALIGNED(u->start, PAGE_SIZE) || !IS_ALIGNED(u->end, PAGE_SIZE) ||
		    u->start >= u->end || (i > 0 && u->start < usable[i - 1].end))
			panic("pmm: usable range %zu [0x%llx-0x%llx) is not page-aligned, "
			      "sorted and disjoint", i, PA(u->start), PA(u->end));
		any = any || clip_range(u, floor, &s, &e);
	}
	if (!any)
		panic("pmm: no usable memory above 0x%llx: the memory map leaves nothing "
		      "to manage", PA(floor));
}

size_t pmm_metadata_size(const struct memmap_range *usable, size_t count, phys_addr_t floor)
{
	size_t total = 0;
	phys_addr_t s, e;
	struct region_layout lo;

	floor = effective_floor(floor);
	validate_ranges(usable, count, floor);
	for (size_t i = 0; i < count; i++) {
		if (!clip_range(&usable[i], floor, &s, &e))
			continue;
		layout_region((size_t)((e - s) >> PAGE_SHIFT), &lo);
		total += lo.bytes;
	}
	return total;
}

/* Hands out the next `bytes` of the metadata area, 8-byte aligned. */
static void *carve(uint8_t **cursor, size_t bytes)
{
	void *p = *cursor;
	*cursor += align8(bytes);
	return p;
}

/* Builds region r over [base, base + frames pages), every frame free. */
static struct pmm_region *region_create(uint8_t **cursor, phys_addr_t base, size_t frames)
{
	struct region_layout lo;
	layout_region(frames, &lo);

	struct pmm_region *r = carve(cursor, sizeof(*r));
	memset(r, 0, sizeof(*r));
	r->base = base;
	r->frames = frames;
	r->words = lo.words;
	r->free = frames;
	r->levels = lo.levels;
	r->avail_levels = lo.avail_levels;
	memcpy(r->count, lo.count, sizeof(r->count));
	memcpy(r->avail_bits, lo.avail_bits, sizeof(r->avail_bits));
	r->idle = carve(cursor, lo.words * sizeof(uint64_t));
	r->mark = carve(cursor, lo.words * sizeof(uint64_t));
	for (unsigned k = 0; k < lo.avail_levels; k++)
		r->avail[k] = carve(cursor, words_for(lo.avail_bits[k]) * sizeof(uint64_t));
	r->leaf_mid = carve(cursor, lo.words);
	for (unsigned l = 1; l <= lo.levels; l++)
		r->nodes[l] = carve(cursor, lo.count[l] * sizeof(struct pmm_node));

	/* Every frame free; the padding past the end looks reserved so no scan runs off. */
	memset(r->idle, 0xff, lo.words * sizeof(uint64_t));
	memset(r->mark, 0, lo.words * sizeof(uint64_t));
	r->mark[lo.words - 1] = ~valid_bits(r, lo.words - 1);
	/* Every word has a free frame: each level's entries all set, the bits past them clear. */
	for (unsigned k = 0; k < lo.avail_levels; k++) {
		size_t bits = lo.avail_bits[k], n = words_for(bits);
		memset(r->avail[k], 0xff, n * sizeof(uint64_t));
		r->avail[k][n - 1] = bits % 64 ? bit_range(0, bits % 64) : ALL_ONES;
	}
	memset(r->leaf_mid, 0, lo.words); /* a wholly free word has no middle run */
	r->leaf_mid[lo.words - 1] = word_mid(free_word(r, lo.words - 1),
					     entry_frames(r, 0, lo.words - 1));
	for (unsigned l = 1; l <= lo.levels; l++)
		for (size_t i = 0; i < lo.count[l]; i++)
			r->nodes[l][i] = combine(r, l, i);
	return r;
}

void pmm_init(struct pmm *pmm, const struct memmap_range *usable, size_t count,
	      phys_addr_t floor, void *metadata, size_t metadata_size)
{
	size_t need = pmm_metadata_size(usable, count, floor);
	if (metadata_size < need)
		panic("pmm: metadata area of %zu bytes is smaller than the %zu bytes needed",
		      metadata_size, need);
	if (!metadata || !IS_ALIGNED((uintptr_t)metadata, 8))
		panic("pmm: metadata at %p is not 8-byte aligned", metadata);

	memset(pmm, 0, sizeof(*pmm));
	pmm->floor = effective_floor(floor);
	pmm->metadata = metadata;
	pmm->metadata_size = need;

	uint8_t *cursor = metadata;
	struct pmm_region **tail = &pmm->regions;
	phys_addr_t s, e;
	for (size_t i = 0; i < count; i++) {
		uint64_t frames = (usable[i].end - usable[i].start) >> PAGE_SHIFT;
		if (!clip_range(&usable[i], pmm->floor, &s, &e)) {
			pmm->unmanaged_frames += frames;
			continue;
		}
		size_t managed = (size_t)((e - s) >> PAGE_SHIFT);
		pmm->unmanaged_frames += frames - managed;
		*tail = region_create(&cursor, s, managed);
		tail = &(*tail)->next;
		pmm->region_count++;
	}
}

/* ---- reservations ---- */

static struct pmm_region *find_region(const struct pmm *pmm, phys_addr_t addr)
{
	for (struct pmm_region *r = pmm->regions; r; r = r->next)
		if (addr >= r->base && ((addr - r->base) >> PAGE_SHIFT) < r->frames)
			return r;
	return NULL;
}

/* Calls fn(r, a, b) for each region r and its frames [a, b) that overlap the byte range. */
static void for_each_overlap(struct pmm *pmm, phys_addr_t start, phys_addr_t end,
			     void (*fn)(struct pmm_region *r, size_t a, size_t b, void *ctx), void *ctx)
{
	phys_addr_t first = ALIGN_DOWN(start, (phys_addr_t)PAGE_SIZE);
	phys_addr_t last = ALIGN_UP(MIN(end, PMM_MAX_PHYS), (phys_addr_t)PAGE_SIZE);

	for (struct pmm_region *r = pmm->regions; r; r = r->next) {
		phys_addr_t r_end = r->base + ((phys_addr_t)r->frames << PAGE_SHIFT);
		phys_addr_t a = MAX(first, r->base), b = MIN(last, r_end);
		if (a < b)
			fn(r, (size_t)((a - r->base) >> PAGE_SHIFT),
			   (size_t)((b - r->base) >> PAGE_SHIFT), ctx);
	}
}

/* The bits of word w that stand for frames [a, b). */
static uint64_t word_range(size_t w, size_t a, size_t b)
{
	size_t lo = MAX(a, w * PMM_WORD_FRAMES), hi = MIN(b, (w + 1) * PMM_WORD_FRAMES);
	return bit_range((unsigned)(lo % PMM_WORD_FRAMES),
			 (unsigned)(hi - w * PMM_WORD_FRAMES));
}

/* Panics if any frame in [a, b) of r is allocated, before anything has changed. */
static void refuse_allocated(struct pmm_region *r, size_t a, size_t b, void *what)
{
	for (size_t w = a / PMM_WORD_FRAMES; w <= (b - 1) / PMM_WORD_FRAMES; w++) {
		uint64_t taken = in_run_word(r, w) & word_range(w, a, b);
		if (taken)
			panic("pmm: cannot reserve %s: frame 0x%llx is allocated "
			      "(reserve before allocating)",
			      what ? (const char *)what : "a range",
			      PA(r->base + ((phys_addr_t)(w * PMM_WORD_FRAMES + ctz64(taken))
					    << PAGE_SHIFT)));
	}
}

/* Frames [a, b) of r, none of them allocated, become reserved; counts them in *newly. */
static void reserve_frames(struct pmm_region *r, size_t a, size_t b, void *newly)
{
	size_t n = 0;
	for (size_t w = a / PMM_WORD_FRAMES; w <= (b - 1) / PMM_WORD_FRAMES; w++) {
		uint64_t m = word_range(w, a, b);
		n += popcount64(free_word(r, w) & m);
		r->mark[w] |= m; /* idle is already set: none of these frames is in a run */
	}
	r->free -= n;
	r->reserved += n;
	refresh_range(r, a, b);
	*(size_t *)newly += n;
}

size_t pmm_reserve(struct pmm *pmm, phys_addr_t start, phys_addr_t end, const char *what)
{
	size_t newly = 0;

	if (end <= start)
		return 0;
	for_each_overlap(pmm, start, end, refuse_allocated, (void *)what);
	for_each_overlap(pmm, start, end, reserve_frames, &newly);
	if (pmm->reservation_count < PMM_MAX_RESERVATIONS)
		pmm->reservations[pmm->reservation_count++] =
			(struct pmm_reservation){
				.start = start, .end = end, .what = what, .frames = newly
			};
	else
		pmm->reservations_unrecorded++;
	return newly;
}

/* ---- allocating and freeing ---- */

/*
 * Frames [i, i + n) of r, all free, become one allocated run. A run inside
 * one word (every single frame) is a few bit operations and refresh_word().
 */
static void take_run(struct pmm_region *r, size_t i, size_t n)
{
	size_t w = i / PMM_WORD_FRAMES;
	unsigned bit = i % PMM_WORD_FRAMES;

	r->free -= n;
	r->allocated += n;
	if (bit + n <= PMM_WORD_FRAMES) {
		uint64_t old_fw = free_word(r, w);
		r->idle[w] &= ~bit_range(bit, (unsigned)(bit + n));
		r->mark[w] |= (uint64_t)1 << bit;
		refresh_word(r, w, old_fw);
		return;
	}
	plane_fill(r->idle, i, n, false);
	plane_put(r->mark, i, true);
	refresh_range(r, i, i + n);
}

/* The allocated run [i, i + n) of r becomes free. */
static void give_run(struct pmm_region *r, size_t i, size_t n)
{
	size_t w = i / PMM_WORD_FRAMES;
	unsigned bit = i % PMM_WORD_FRAMES;

	r->free += n;
	r->allocated -= n;
	if (bit + n <= PMM_WORD_FRAMES) {
		uint64_t old_fw = free_word(r, w);
		r->idle[w] |= bit_range(bit, (unsigned)(bit + n));
		r->mark[w] &= ~((uint64_t)1 << bit);
		refresh_word(r, w, old_fw);
		return;
	}
	plane_fill(r->idle, i, n, true);
	plane_put(r->mark, i, false);
	refresh_range(r, i, i + n);
}

int pmm_alloc_phys(struct pmm *pmm, size_t frames, phys_addr_t align, phys_addr_t limit,
		   phys_addr_t *out)
{
	return pmm_alloc_phys_range(pmm, frames, align, 0, limit, out);
}

int pmm_alloc_phys_range(struct pmm *pmm, size_t frames, phys_addr_t align, phys_addr_t min,
			 phys_addr_t limit, phys_addr_t *out)
{
	if (frames == 0)
		return -MIO_EINVAL;
	if (align == 0)
		align = PAGE_SIZE;
	if (!IS_POWER_OF_TWO(align))
		return -MIO_EINVAL;

	uint64_t align_frames = align <= PAGE_SIZE ? 1 : align >> PAGE_SHIFT;
	uint64_t min_pfn = ALIGN_UP(min, (phys_addr_t)PAGE_SIZE) >> PAGE_SHIFT;
	uint64_t limit_pfn = limit >> PAGE_SHIFT;
	if (min > UINT64_MAX - PAGE_SIZE) /* no frame starts that high */
		return -MIO_ENOMEM;
	for (struct pmm_region *r = pmm->regions; r; r = r->next) {
		if ((r->base >> PAGE_SHIFT) >= limit_pfn)
			break;
		if ((r->base >> PAGE_SHIFT) + r->frames <= min_pfn)
			continue;
		size_t i;
		if (region_find(r, frames, align_frames, min_pfn, limit_pfn, &i)) {
			take_run(r, i, frames);
			*out = r->base + ((phys_addr_t)i << PAGE_SHIFT);
			return 0;
		}
	}
	return -MIO_ENOMEM;
}

size_t pmm_free_phys(struct pmm *pmm, phys_addr_t addr)
{
	if (!IS_ALIGNED(addr, PAGE_SIZE))
		panic("pmm: free of 0x%llx, which is not 4 KiB-aligned", PA(addr));
	struct pmm_region *r = find_region(pmm, addr);
	if (!r)
		panic("pmm: free of frame 0x%llx, which no PMM region holds (never allocated)",
		      PA(addr));

	size_t i = (size_t)((addr - r->base) >> PAGE_SHIFT);
	switch (frame_state(r, i)) {
	case PMM_FRAME_FREE:
		panic("double free of frame 0x%llx (it is not allocated)", PA(addr));
	case PMM_FRAME_RESERVED:
		panic("pmm: free of reserved frame 0x%llx (never allocated)", PA(addr));
	case PMM_FRAME_RUN_BODY:
		panic("pmm: free of frame 0x%llx inside an allocated run, not its first frame",
		      PA(addr));
	default:
		break;
	}

	size_t n = scan_while(r, i + 1, body_word) - i;
	give_run(r, i, n);
	return n;
}

void *pmm_alloc(struct pmm *pmm, size_t frames)
{
	phys_addr_t p;
	if (pmm_alloc_phys(pmm, frames, PAGE_SIZE, PMM_LIMIT_4GIB, &p) != 0)
		return NULL;
	return (void *)(uintptr_t)p;
}

void pmm_free(struct pmm *pmm, void *ptr)
{
	if (ptr)
		pmm_free_phys(pmm, (phys_addr_t)(uintptr_t)ptr);
}

void *pmm_alloc_frame(size_t num_blocks)
{
	return pmm_alloc(&kernel_pmm, num_blocks);
}

void pmm_free_frame(void *ptr)
{
	pmm_free(&kernel_pmm, ptr);
}

/* ---- looking inside ---- */

enum pmm_frame_state pmm_frame_state(const struct pmm *pmm, phys_addr_t addr)
{
	const struct pmm_region *r = find_region(pmm, addr);
	if (!r)
		return PMM_FRAME_UNMANAGED;
	return frame_state(r, (size_t)((addr - r->base) >> PAGE_SHIFT));
}

static void region_stats(const struct pmm_region *r, struct pmm_stats *s)
{
	s->total = r->frames;
	s->free = r->free;
	s->allocated = r->allocated;
	s->reserved = r->reserved;
	s->used = r->allocated + r->reserved;
	s->largest_free_run = largest_run(r);
}

size_t pmm_stats(const struct pmm *pmm, struct pmm_stats *total,
		 struct pmm_region_stats *per_region, size_t cap)
{
	size_t i = 0;
	memset(total, 0, sizeof(*total));
	for (const struct pmm_region *r = pmm->regions; r; r = r->next, i++) {
		struct pmm_stats s;
		region_stats(r, &s);
		total->total += s.total;
		total->free += s.free;
		total->used += s.used;
		total->allocated += s.allocated;
		total->reserved += s.reserved;
		total->largest_free_run = MAX(total->largest_free_run, s.largest_free_run);
		if (i < cap)
			per_region[i] = (struct pmm_region_stats){
				.start = r->base,
				.end = r->base + ((phys_addr_t)r->frames << PAGE_SHIFT),
				.stats = s,
			};
	}
	return i;
}


/* ---- pmm_check ---- */

#define CHECK(r, cond, ...)                                                               \
	do {                                                                              \
		if (!(cond))                                                              \
			check_failed(r, __VA_ARGS__);                                     \
	} while (0)

__attribute__((noreturn, format(printf, 2, 3)))
static void check_failed(const struct pmm_region *r, const char *fmt, ...)
{
	char why[128];
	va_list ap;
	va_start(ap, fmt);
	kvsnprintf(why, sizeof(why), fmt, ap);
	va_end(ap);
	if (r)
		panic("pmm_check: region [0x%llx-0x%llx): %s", PA(r->base),
		      PA(r->base + ((phys_addr_t)r->frames << PAGE_SHIFT)), why);
	panic("pmm_check: %s", why);
}

/*
 * The free runs of a span of frames, fed one frame at a time: deliberately
 * not the word tricks or combine() the allocator uses, so pmm_check does
 * not trust the code it checks.
 */
struct brute {
	uint32_t max;    /* longest run */
	uint32_t pre;    /* the run at the span's start */
	uint32_t mid;    /* longest run touching neither end */
	uint32_t run;    /* the run that reaches the frame fed last */
	bool broken;     /* a frame that is not free has been seen: the prefix is over */
};

static void brute_add(struct brute *b, bool free)
{
	if (free) {
		b->run++;
		b->max = MAX(b->max, b->run);
		if (!b->broken)
			b->pre = b->run;
		return;
	}
	if (b->broken) /* the run that ends here did not start at the span's start */
		b->mid = MAX(b->mid, b->run);
	b->run = 0;
	b->broken = true;
}

/*
 * What the tree must hold for the span fed to b (up to the region's end if
 * that comes first): prefix, suffix, middle run (0 below PMM_MIN_TRACKED_RUN).
 */
static struct pmm_node brute_node(const struct brute *b)
{
	uint32_t mid = b->mid >= PMM_MIN_TRACKED_RUN ? b->mid : 0;
	return (struct pmm_node){ b->pre, b->run, mid };
}

static bool is_free(const struct pmm_region *r, size_t i)
{
	return frame_state(r, i) == PMM_FRAME_FREE;
}

static void check_bit_planes(const struct pmm_region *r)
{
	size_t free = 0, reserved = 0, in_run = 0;
	uint64_t prev_in_run = 0; /* top bit of the previous word's in-run bits */

	for (size_t w = 0; w < r->words; w++) {
		uint64_t valid = valid_bits(r, w);
		CHECK(r, (reserved_word(r, w) & ~valid) == ~valid,
		      "padding bits of word %zu are not in the reserved state", w);
		uint64_t run = in_run_word(r, w) & valid, body = body_word(r, w) & valid;
		uint64_t after_run = (run << 1) | prev_in_run;
		CHECK(r, (body & ~after_run) == 0,
		      "frame 0x%llx is a run body with no run before it",
		      PA(r->base + ((phys_addr_t)(w * PMM_WORD_FRAMES + ctz64(body & ~after_run))
				    << PAGE_SHIFT)));
		prev_in_run = run >> 63;
		free += popcount64(free_word(r, w) & valid);
		reserved += popcount64(reserved_word(r, w) & valid);
		in_run += popcount64(run);

		struct brute b = { 0 };
		size_t end = MIN(r->frames, (w + 1) * PMM_WORD_FRAMES);
		for (size_t i = w * PMM_WORD_FRAMES; i < end; i++)
			brute_add(&b, is_free(r, i));
		uint32_t mid = brute_node(&b).mid;
		CHECK(r, r->leaf_mid[w] == mid,
		      "word %zu: summary says middle free run %u, the bits say %u", w,
		      r->leaf_mid[w], mid);
		bool bit = (r->avail[0][w / 64] >> (w % 64)) & 1;
		CHECK(r, bit == (b.max > 0),
		      "word %zu: the free-frame bitmap says %s, the bits say %s", w,
		      bit ? "a frame is free" : "no frame is free",
		      b.max ? "one is" : "none is");
	}
	CHECK(r, free == r->free, "%zu frames free, counter says %zu", free, r->free);
	CHECK(r, reserved == r->reserved, "%zu frames reserved, counter says %zu", reserved,
	      r->reserved);
	CHECK(r, in_run == r->allocated, "%zu frames allocated, counter says %zu", in_run,
	      r->allocated);
	CHECK(r, free + reserved + in_run == r->frames, "frame states do not add up");
}

/* Node i of level l against the frames it covers. */
static void check_node(const struct pmm_region *r, unsigned l, size_t i, const struct brute *b)
{
	struct pmm_node want = brute_node(b), have = r->nodes[l][i];
	CHECK(r, same_node(have, want),
	      "level %u node %zu holds pre/suf/mid %u/%u/%u, the frames say %u/%u/%u", l, i,
	      have.pre, have.suf, have.mid, want.pre, want.suf, want.mid);
}

/*
 * Every node of the tree and every bit of the free-frame bitmap above level
 * 0 (level 0 is check_bit_planes') against the frames they cover, in one
 * pass over the frames with an accumulator per level. A node the region's
 * end cuts covers the frames up to it.
 */
static void check_summaries(const struct pmm_region *r)
{
	struct brute node[PMM_MAX_LEVELS + 1] = { { 0 } };
	bool any[PMM_AVAIL_LEVELS] = { false };

	for (size_t i = 0; i < r->frames; i++) {
		bool free = is_free(r, i), last = i + 1 == r->frames;
		for (unsigned l = 1; l <= r->levels; l++) {
			size_t span = level_span(l);
			brute_add(&node[l], free);
			if (((i + 1) & (span - 1)) == 0 || last) {
				check_node(r, l, i / span, &node[l]);
				node[l] = (struct brute){ 0 };
			}
		}
		for (unsigned k = 1; k < r->avail_levels; k++) {
			/* Bit j of level k covers 64^(k+1) frames. */
			size_t span = (size_t)PMM_WORD_FRAMES << (6 * k), j = i / span;
			any[k] = any[k] || free;
			if (((i + 1) & (span - 1)) == 0 || last) {
				bool bit = (r->avail[k][j / 64] >> (j % 64)) & 1;
				CHECK(r, bit == any[k],
				      "free-frame bitmap level %u bit %zu says %s, the frames say %s",
				      k, j, bit ? "a frame is free" : "no frame is free",
				      any[k] ? "one is" : "none is");
				any[k] = false;
			}
		}
	}
	for (unsigned k = 0; k < r->avail_levels; k++) {
		size_t bits = r->avail_bits[k];
		uint64_t past = bits % 64 ? r->avail[k][bits / 64] & ~bit_range(0, bits % 64) : 0;
		CHECK(r, past == 0, "free-frame bitmap level %u has bits set past its %zu entries",
		      k, bits);
	}
}

static void check_shape(const struct pmm_region *r)
{
	struct region_layout lo;
	layout_region(r->frames, &lo);
	CHECK(r, lo.words == r->words && lo.levels == r->levels &&
			 memcmp(lo.count, r->count, sizeof(lo.count)) == 0 &&
			 lo.avail_levels == r->avail_levels &&
			 memcmp(lo.avail_bits, r->avail_bits, sizeof(lo.avail_bits)) == 0,
	      "tree or bitmap shape does not match %zu frames", r->frames);
}

void pmm_check(const struct pmm *pmm)
{
	size_t count = 0;
	const uint8_t *meta = pmm->metadata;

	for (const struct pmm_region *r = pmm->regions; r; r = r->next, count++) {
		phys_addr_t end = r->base + ((phys_addr_t)r->frames << PAGE_SHIFT);
		CHECK(r, (const uint8_t *)r >= meta && (const uint8_t *)(r + 1) <= meta + pmm->metadata_size,
		      "region struct at %p lies outside the metadata area", (const void *)r);
		CHECK(r, r->frames > 0 && IS_ALIGNED(r->base, PAGE_SIZE), "empty or unaligned");
		/* Base and count bounded before the end is trusted: corrupted ones could wrap it. */
		CHECK(r, r->base >= pmm->floor && r->base < PMM_MAX_PHYS &&
				 r->frames <= (PMM_MAX_PHYS >> PAGE_SHIFT) && end <= PMM_MAX_PHYS,
		      "outside the managed range");
		CHECK(r, !r->next || r->next->base >= end, "overlaps or precedes the next region");
		check_shape(r);
		check_bit_planes(r);
		check_summaries(r);
	}
	CHECK(NULL, count == pmm->region_count, "%zu regions listed, %zu counted",
	      pmm->region_count, count);
}

/* ---- pmm_dump ---- */

static void print_stats(const char *indent, const struct pmm_stats *s)
{
	kprintf("%s%llu frames: %llu free, %llu allocated, %llu reserved; "
		"largest free run %llu frames\n",
		indent, PA(s->total), PA(s->free), PA(s->allocated), PA(s->reserved),
		PA(s->largest_free_run));
}

/* The end of the run of frames that starts at i and shares its state. */
static size_t run_end(const struct pmm_region *r, size_t i, enum pmm_frame_state st)
{
	switch (st) {
	case PMM_FRAME_FREE:
		return scan_while(r, i, free_word);
	case PMM_FRAME_RESERVED:
		return scan_while(r, i, reserved_word);
	case PMM_FRAME_RUN_START:
		return scan_while(r, i + 1, body_word);
	default:
		return scan_while(r, i, body_word);
	}
}

/* Calls fn for each run of one region, in address order. */
static void region_walk_runs(const struct pmm_region *r, pmm_run_fn fn, void *arg)
{
	for (size_t i = 0; i < r->frames;) {
		enum pmm_frame_state st = frame_state(r, i);
		size_t end = run_end(r, i, st);
		fn(r->base + ((phys_addr_t)i << PAGE_SHIFT), r->base + ((phys_addr_t)end << PAGE_SHIFT),
		   st, arg);
		i = end;
	}
}

void pmm_walk_runs(const struct pmm *pmm, pmm_run_fn fn, void *arg)
{
	for (const struct pmm_region *r = pmm->regions; r; r = r->next)
		region_walk_runs(r, fn, arg);
}

struct dump_budget {
	size_t max_runs, shown, hidden;
};

static void dump_run(phys_addr_t start, phys_addr_t end, enum pmm_frame_state st, void *arg)
{
	static const char *const names[] = {
		[PMM_FRAME_FREE] = "free",
		[PMM_FRAME_RUN_START] = "allocated",
		[PMM_FRAME_RUN_BODY] = "BODY WITHOUT A RUN",
		[PMM_FRAME_RESERVED] = "reserved",
	};
	struct dump_budget *b = arg;

	if (b->shown == b->max_runs) {
		b->hidden++;
		return;
	}
	kprintf("    [0x%016llx-0x%016llx) %-9s %llu frames\n", PA(start), PA(end), names[st],
		PA((end - start) >> PAGE_SHIFT));
	b->shown++;
}

static void dump_runs(const struct pmm_region *r, size_t max_runs)
{
	struct dump_budget b = { .max_runs = max_runs };

	region_walk_runs(r, dump_run, &b);
	if (b.hidden)
		kprintf("    ... %zu more runs\n", b.hidden);
}

void pmm_dump(const struct pmm *pmm, size_t max_runs)
{
	struct pmm_stats total;
	pmm_stats(pmm, &total, NULL, 0);
	kprintf("pmm: %zu region%s, %zu bytes of metadata at %p\n", pmm->region_count,
		pmm->region_count == 1 ? "" : "s", pmm->metadata_size, pmm->metadata);
	kprintf("pmm: frames below 0x%llx or from 0x%llx up are not managed (%llu usable ones)\n",
		PA(pmm->floor), PA(PMM_MAX_PHYS), PA(pmm->unmanaged_frames));
	print_stats("pmm: total ", &total);

	for (const struct pmm_region *r = pmm->regions; r; r = r->next) {
		struct pmm_stats s;
		region_stats(r, &s);
		kprintf("  region [mem 0x%016llx-0x%016llx] ", PA(r->base),
			PA(r->base + ((phys_addr_t)r->frames << PAGE_SHIFT) - 1));
		print_stats("", &s);
		if (max_runs)
			dump_runs(r, max_runs);
	}
	for (size_t i = 0; i < pmm->reservation_count; i++) {
		const struct pmm_reservation *v = &pmm->reservations[i];
		kprintf("  reserved [mem 0x%016llx-0x%016llx] %-15s %zu frames\n", PA(v->start),
			PA(v->end - 1), v->what ? v->what : "", v->frames);
	}
	if (pmm->reservations_unrecorded)
		kprintf("  ... and %zu more reservations (not recorded)\n",
			pmm->reservations_unrecorded);
}
