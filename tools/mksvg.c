/*
 * Pictures of MioOS-C's memory, as SVG, from text the kernel and the
 * benchmarks print. No dependencies beyond the C library.
 *
 *   mksvg memdump LOG OUTDIR   reads the "memdump:" lines of a serial log and
 *                              writes OUTDIR/physmap.svg and OUTDIR/heap.svg
 *   mksvg bench LOG OUT.svg    reads "BENCH <subsystem> <workload> <impl>
 *                              <value> <unit>" lines and charts the ns/op ones
 *
 * The memdump block the kernel prints (kernel/memdump.c) looks like:
 *   memdump: begin
 *   memdump: ram BASE END TYPE            one per raw memory-map entry
 *   memdump: zone BASE END KIND [LABEL]   kernel, heap, loader, module, pmm, pagetables
 *   memdump: frames BASE END              a run of frames the PMM has handed out
 *   memdump: heapblock BASE END used|free
 *   memdump: end
 * with BASE/END as 0x hex, END exclusive. Anything else on a line is ignored,
 * so a whole serial log can be fed in.
 */
#define _GNU_SOURCE
#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_ITEMS 65536
#define KiB ((uint64_t)1024)
#define MiB (1024 * KiB)
#define GiB (1024 * MiB)

struct item {
	uint64_t base, end;
	char kind[32];
	char label[64];
};

struct dump {
	struct item ram[256], zones[256];
	int nram, nzones;
	struct item *frames, *blocks;
	int nframes, nblocks;
};

static void die(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	fprintf(stderr, "mksvg: ");
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, "\n");
	exit(1);
}

static FILE *open_or_die(const char *path, const char *mode)
{
	FILE *f = fopen(path, mode);
	if (!f)
		die("cannot open %s", path);
	return f;
}

/* ---------- reading the dump ---------- */

static bool parse_range_line(const char *rest, struct item *it)
{
	char kind[32] = "", label[64] = "";
	int n = sscanf(rest, "%" SCNx64 " %" SCNx64 " %31s %63[^\n]", &it->base, &it->end, kind, label);
	if (n < 2 || it->end < it->base)
		return false;
	snprintf(it->kind, sizeof(it->kind), "%s", kind);
	snprintf(it->label, sizeof(it->label), "%s", label);
	return true;
}

static void push(struct item **arr, int *n, const struct item *it)
{
	if (*n == MAX_ITEMS)
		die("more than %d items of one kind", MAX_ITEMS);
	if (!*arr)
		*arr = calloc(MAX_ITEMS, sizeof(struct item));
	(*arr)[(*n)++] = *it;
}

static void read_dump(const char *path, struct dump *d)
{
	FILE *f = open_or_die(path, "r");
	char line[512];
	bool inside = false, seen = false;

	memset(d, 0, sizeof(*d));
	while (fgets(line, sizeof(line), f)) {
		line[strcspn(line, "\r\n")] = '\0';
		char *p = strstr(line, "memdump: ");
		if (!p)
			continue;
		p += strlen("memdump: ");
		if (!strcmp(p, "begin")) {
			/* the last complete dump in the log wins */
			struct item *fr = d->frames, *bl = d->blocks;
			memset(d, 0, sizeof(*d));
			d->frames = fr;
			d->blocks = bl;
			inside = true;
			continue;
		}
		if (!strcmp(p, "end")) {
			inside = false;
			seen = true;
			continue;
		}
		if (!inside)
			continue;
		struct item it = { 0 };
		char word[16];
		if (sscanf(p, "%15s", word) != 1 || !parse_range_line(p + strlen(word), &it))
			die("cannot read '%s'", line);
		if (!strcmp(word, "ram") && d->nram < 256)
			d->ram[d->nram++] = it;
		else if (!strcmp(word, "zone") && d->nzones < 256)
			d->zones[d->nzones++] = it;
		else if (!strcmp(word, "frames"))
			push(&d->frames, &d->nframes, &it);
		else if (!strcmp(word, "heapblock"))
			push(&d->blocks, &d->nblocks, &it);
		else
			die("unknown memdump line '%s'", line);
	}
	fclose(f);
	if (!seen)
		die("%s holds no complete 'memdump: begin' ... 'memdump: end' block", path);
}

/* ---------- SVG helpers ---------- */

static void human_size(uint64_t v, char *buf, size_t size)
{
	if (v >= GiB && v % GiB == 0)
		snprintf(buf, size, "%" PRIu64 " GiB", v / GiB);
	else if (v >= MiB && v % MiB == 0)
		snprintf(buf, size, "%" PRIu64 " MiB", v / MiB);
	else if (v >= KiB && v % KiB == 0)
		snprintf(buf, size, "%" PRIu64 " KiB", v / KiB);
	else
		snprintf(buf, size, "0x%" PRIx64, v);
}

static const char *ram_colour(const char *type)
{
	if (!strcmp(type, "available"))
		return "#cfe8c4";
	if (!strcmp(type, "reserved"))
		return "#b8b8b8";
	if (!strncmp(type, "ACPI", 4) || !strcmp(type, "acpi"))
		return "#e8d9a8";
	return "#e8a8a8";
}

static const char *zone_colour(const char *kind)
{
	static const struct { const char *kind, *colour; } map[] = {
		{ "kernel", "#3b6fb6" }, { "heap", "#f08c2e" }, { "loader", "#8e5bb5" },
		{ "module", "#d45c9e" }, { "pmm", "#8b5a2b" }, { "pagetables", "#2a9d8f" },
	};
	for (size_t i = 0; i < sizeof(map) / sizeof(map[0]); i++)
		if (!strcmp(kind, map[i].kind))
			return map[i].colour;
	return "#555555";
}

/* A horizontal band showing [lo, hi) of the physical address space, linearly. */
struct band {
	uint64_t lo, hi;
	const char *title;
	double y;
};

#define SVG_WIDTH 1000.0
#define BAND_X 150.0
#define BAND_W 820.0
#define BAND_H 54.0

static double band_x(const struct band *b, uint64_t addr)
{
	if (addr <= b->lo)
		return BAND_X;
	if (addr >= b->hi)
		return BAND_X + BAND_W;
	return BAND_X + BAND_W * (double)(addr - b->lo) / (double)(b->hi - b->lo);
}

static void band_rect(FILE *o, const struct band *b, uint64_t base, uint64_t end, double dy,
		      double h, const char *colour, const char *tip)
{
	if (end <= b->lo || base >= b->hi)
		return;
	double x0 = band_x(b, base), x1 = band_x(b, end);
	if (x1 - x0 < 0.6) /* keep tiny ranges visible */
		x1 = x0 + 0.6;
	fprintf(o, "<rect x='%.2f' y='%.2f' width='%.2f' height='%.2f' fill='%s'><title>%s</title></rect>\n",
		x0, b->y + dy, x1 - x0, h, colour, tip);
}

static void band_frame(FILE *o, const struct band *b)
{
	char lo[32], hi[32];
	human_size(b->lo, lo, sizeof(lo));
	human_size(b->hi, hi, sizeof(hi));
	fprintf(o, "<text x='10' y='%.1f' class='t'>%s</text>\n", b->y + 22, b->title);
	fprintf(o, "<text x='10' y='%.1f' class='s'>%s – %s</text>\n", b->y + 38, lo, hi);
	fprintf(o, "<rect x='%.1f' y='%.1f' width='%.1f' height='%.1f' fill='none' stroke='#333'/>\n",
		BAND_X, b->y, BAND_W, BAND_H);
	/* Ticks at multiples of the largest power of two that gives at least four. */
	uint64_t step = 1;
	while (step * 2 <= (b->hi - b->lo) / 4)
		step *= 2;
	for (uint64_t a = (b->lo + step - 1) / step * step; a <= b->hi; a += step) {
		char label[32];
		human_size(a, label, sizeof(label));
		double x = band_x(b, a);
		fprintf(o, "<line x1='%.1f' y1='%.1f' x2='%.1f' y2='%.1f' stroke='#333'/>\n", x,
			b->y + BAND_H, x, b->y + BAND_H + 4);
		fprintf(o, "<text x='%.1f' y='%.1f' class='s' text-anchor='middle'>%s</text>\n", x,
			b->y + BAND_H + 15, label);
	}
}

static void svg_open(FILE *o, double height, const char *title)
{
	fprintf(o, "<svg xmlns='http://www.w3.org/2000/svg' width='%.0f' height='%.0f' "
		   "font-family='sans-serif'>\n", SVG_WIDTH, height);
	fprintf(o, "<style>.t{font-size:13px;font-weight:bold}.s{font-size:11px;fill:#333}</style>\n");
	fprintf(o, "<rect width='100%%' height='100%%' fill='white'/>\n");
	fprintf(o, "<text x='10' y='20' style='font-size:16px;font-weight:bold'>%s</text>\n", title);
}

static void legend(FILE *o, double y, const char *const *names, const char *const *colours, int n)
{
	double x = 10;
	for (int i = 0; i < n; i++) {
		fprintf(o, "<rect x='%.1f' y='%.1f' width='12' height='12' fill='%s' stroke='#333' stroke-width='0.5'/>\n",
			x, y, colours[i]);
		fprintf(o, "<text x='%.1f' y='%.1f' class='s'>%s</text>\n", x + 16, y + 10, names[i]);
		x += 30 + 7.0 * (double)strlen(names[i]);
	}
}

/* ---------- physical map ---------- */

static uint64_t top_of_ram(const struct dump *d)
{
	uint64_t top = 0;
	for (int i = 0; i < d->nram; i++)
		if (d->ram[i].end > top && strcmp(d->ram[i].kind, "reserved") != 0)
			top = d->ram[i].end;
	return top;
}

static void write_physmap(const struct dump *d, const char *path)
{
	uint64_t top = top_of_ram(d);
	struct band bands[4];
	int nb = 0;
	bands[nb++] = (struct band){ 0, MiB, "first MiB", 0 };
	bands[nb++] = (struct band){ MiB, 16 * MiB, "kernel &amp; heap", 0 };
	bands[nb++] = (struct band){ 16 * MiB, 4 * GiB, "to 4 GiB", 0 };
	if (top > 4 * GiB)
		bands[nb++] = (struct band){ 4 * GiB, (top + GiB - 1) / GiB * GiB, "above 4 GiB", 0 };

	FILE *o = open_or_die(path, "w");
	double height = 60 + nb * (BAND_H + 40) + 60;
	svg_open(o, height, "MioOS-C physical memory at boot (each band has its own linear scale)");
	for (int i = 0; i < nb; i++) {
		struct band *b = &bands[i];
		b->y = 50 + i * (BAND_H + 40);
		char tip[160];
		for (int r = 0; r < d->nram; r++) {
			snprintf(tip, sizeof(tip), "%s 0x%" PRIx64 "-0x%" PRIx64, d->ram[r].kind,
				 d->ram[r].base, d->ram[r].end);
			band_rect(o, b, d->ram[r].base, d->ram[r].end, 0, BAND_H, ram_colour(d->ram[r].kind), tip);
		}
		for (int z = 0; z < d->nzones; z++) {
			snprintf(tip, sizeof(tip), "%s %s 0x%" PRIx64 "-0x%" PRIx64, d->zones[z].kind,
				 d->zones[z].label, d->zones[z].base, d->zones[z].end);
			band_rect(o, b, d->zones[z].base, d->zones[z].end, 6, BAND_H - 24,
				  zone_colour(d->zones[z].kind), tip);
		}
		for (int f = 0; f < d->nframes; f++) {
			snprintf(tip, sizeof(tip), "allocated frames 0x%" PRIx64 "-0x%" PRIx64,
				 d->frames[f].base, d->frames[f].end);
			band_rect(o, b, d->frames[f].base, d->frames[f].end, BAND_H - 14, 12, "#c0392b", tip);
		}
		band_frame(o, b);
	}
	static const char *const names[] = { "usable", "reserved", "ACPI", "kernel", "heap",
					     "loader data", "module", "PMM metadata",
					     "page tables", "allocated frames" };
	static const char *const colours[] = { "#cfe8c4", "#b8b8b8", "#e8d9a8", "#3b6fb6",
					       "#f08c2e", "#8e5bb5", "#d45c9e", "#8b5a2b",
					       "#2a9d8f", "#c0392b" };
	legend(o, height - 40, names, colours, 10);
	fprintf(o, "</svg>\n");
	fclose(o);
}

/* ---------- heap blocks ---------- */

static void write_heap(const struct dump *d, const char *path)
{
	if (d->nblocks == 0)
		die("the memdump lists no heap blocks");
	uint64_t lo = d->blocks[0].base, hi = d->blocks[d->nblocks - 1].end;
	/* Rows of a round size (a multiple of 16 KiB), at most 16 of them. */
	uint64_t per_row = 16 * KiB;
	while ((hi - lo + per_row - 1) / per_row > 16)
		per_row *= 2;
	const int rows = (int)((hi - lo + per_row - 1) / per_row);
	uint64_t used = 0, free_bytes = 0;
	for (int i = 0; i < d->nblocks; i++) {
		if (!strcmp(d->blocks[i].kind, "used"))
			used += d->blocks[i].end - d->blocks[i].base;
		else
			free_bytes += d->blocks[i].end - d->blocks[i].base;
	}

	FILE *o = open_or_die(path, "w");
	double height = 80 + rows * 30 + 50.0;
	char title[200], span[32];
	human_size(per_row, span, sizeof(span));
	snprintf(title, sizeof(title), "MioOS-C heap at 0x%" PRIx64 ": %d blocks, %" PRIu64
		 " bytes used, %" PRIu64 " free (%s per row)", lo, d->nblocks, used, free_bytes, span);
	svg_open(o, height, title);
	for (int r = 0; r < rows; r++) {
		struct band b = { lo + per_row * (uint64_t)r, lo + per_row * (uint64_t)(r + 1), "", 40 + r * 30 };
		char off[32];
		human_size(b.lo - lo, off, sizeof(off));
		fprintf(o, "<text x='10' y='%.1f' class='s'>+%s</text>\n", b.y + 15, r ? off : "0");
		for (int i = 0; i < d->nblocks; i++) {
			const struct item *it = &d->blocks[i];
			bool is_used = !strcmp(it->kind, "used");
			char tip[120];
			snprintf(tip, sizeof(tip), "%s block 0x%" PRIx64 ", %" PRIu64 " bytes",
				 it->kind, it->base, it->end - it->base);
			band_rect(o, &b, it->base, it->end, 0, 22, is_used ? "#3b6fb6" : "#e6eef7", tip);
			double x = band_x(&b, it->base);
			if (it->base > b.lo && it->base < b.hi)
				fprintf(o, "<line x1='%.2f' y1='%.1f' x2='%.2f' y2='%.1f' stroke='white' stroke-width='0.4'/>\n",
					x, b.y, x, b.y + 22);
		}
		fprintf(o, "<rect x='%.1f' y='%.1f' width='%.1f' height='22' fill='none' stroke='#333'/>\n",
			BAND_X, b.y, BAND_W);
	}
	static const char *const names[] = { "used block", "free block" };
	static const char *const colours[] = { "#3b6fb6", "#e6eef7" };
	legend(o, height - 35, names, colours, 2);
	fprintf(o, "</svg>\n");
	fclose(o);
}

/* ---------- benchmark chart ---------- */

struct figure {
	char subsystem[32], workload[48], impl[32], unit[24];
	double value;
};

static int read_bench(const char *path, struct figure *figs, int max)
{
	FILE *f = open_or_die(path, "r");
	char line[512];
	int n = 0;
	while (fgets(line, sizeof(line), f) && n < max) {
		struct figure *g = &figs[n];
		if (sscanf(line, "BENCH %31s %47s %31s %lf %23s", g->subsystem, g->workload, g->impl,
			   &g->value, g->unit) == 5 &&
		    (!strcmp(g->unit, "ns/op") || !strcmp(g->unit, "ns/page")))
			n++;
	}
	fclose(f);
	return n;
}

static int index_of(char names[][96], int *n, const char *name)
{
	for (int i = 0; i < *n; i++)
		if (!strcmp(names[i], name))
			return i;
	snprintf(names[*n], 96, "%s", name);
	return (*n)++;
}

static void write_bench(const char *log, const char *path)
{
	static struct figure figs[512];
	int n = read_bench(log, figs, 512);
	if (n == 0)
		die("%s holds no 'BENCH ... ns/op' or 'ns/page' lines", log);

	char groups[128][96], impls[16][96];
	int ngroups = 0, nimpls = 0;
	for (int i = 0; i < n; i++) {
		char g[96];
		snprintf(g, sizeof(g), "%s %s", figs[i].subsystem, figs[i].workload);
		index_of(groups, &ngroups, g);
		index_of(impls, &nimpls, figs[i].impl);
	}
	double vmin = figs[0].value, vmax = figs[0].value;
	for (int i = 0; i < n; i++) {
		vmin = fmin(vmin, figs[i].value);
		vmax = fmax(vmax, figs[i].value);
	}
	double lmin = floor(log10(fmax(vmin, 0.1))), lmax = ceil(log10(fmax(vmax, 1)));
	if (lmax <= lmin)
		lmax = lmin + 1;

	const double bar_h = 13, label_w = 220, plot_w = 640;
	int per_group[128] = { 0 }, bars = 0;
	for (int i = 0; i < n; i++) {
		char key[96];
		snprintf(key, sizeof(key), "%s %s", figs[i].subsystem, figs[i].workload);
		per_group[index_of(groups, &ngroups, key)]++;
		bars++;
	}
	double height = 70 + bars * bar_h + ngroups * 14 + 50;
	/* One colour per implementation across all subsystems, so no two share one. */
	static const char *const colours[] = { "#3b6fb6", "#c0392b", "#7f8c8d", "#f08c2e",
					       "#2a9d8f", "#8e5bb5", "#6aa84f", "#e377c2",
					       "#17becf", "#bcbd22", "#8c564b", "#1f2f5f" };
	enum { NCOLOURS = sizeof(colours) / sizeof(colours[0]) };
	FILE *o = open_or_die(path, "w");
	svg_open(o, height, "MioOS-C benchmarks: time per operation (log scale, shorter is faster)");
	double y0 = 50;
	for (double l = lmin; l <= lmax; l++) {
		double x = label_w + plot_w * (l - lmin) / (lmax - lmin);
		fprintf(o, "<line x1='%.1f' y1='%.1f' x2='%.1f' y2='%.1f' stroke='#ddd'/>\n", x, y0,
			x, height - 50);
		fprintf(o, "<text x='%.1f' y='%.1f' class='s' text-anchor='middle'>%g ns</text>\n", x,
			height - 36, pow(10, l));
	}
	double gy = y0;
	for (int g = 0; g < ngroups; g++) {
		fprintf(o, "<text x='10' y='%.1f' class='s'>%s</text>\n", gy + per_group[g] * bar_h / 2 + 4, groups[g]);
		int slot = 0;
		for (int i = 0; i < n; i++) {
			char key[96];
			snprintf(key, sizeof(key), "%s %s", figs[i].subsystem, figs[i].workload);
			if (strcmp(key, groups[g]) != 0)
				continue;
			int k = index_of(impls, &nimpls, figs[i].impl); /* colour */
			double v = fmax(figs[i].value, pow(10, lmin));
			double w = plot_w * (log10(v) - lmin) / (lmax - lmin);
			double y = gy + slot++ * bar_h;
			fprintf(o, "<rect x='%.1f' y='%.1f' width='%.1f' height='%.1f' fill='%s'><title>%s %s: %g %s</title></rect>\n",
				label_w, y, fmax(w, 1), bar_h - 2, colours[k % NCOLOURS], groups[g], figs[i].impl,
				figs[i].value, figs[i].unit);
			fprintf(o, "<text x='%.1f' y='%.1f' class='s'>%g</text>\n", label_w + fmax(w, 1) + 4,
				y + bar_h - 4, figs[i].value);
		}
		gy += per_group[g] * bar_h + 14;
	}
	const char *names[16], *cols[16];
	for (int k = 0; k < nimpls; k++) {
		names[k] = impls[k];
		cols[k] = colours[k % NCOLOURS];
	}
	legend(o, height - 22, names, cols, nimpls);
	fprintf(o, "</svg>\n");
	fclose(o);
}

int main(int argc, char **argv)
{
	if (argc == 4 && !strcmp(argv[1], "memdump")) {
		static struct dump d;
		char path[4096];
		read_dump(argv[2], &d);
		snprintf(path, sizeof(path), "%s/physmap.svg", argv[3]);
		write_physmap(&d, path);
		printf("wrote %s\n", path);
		if (d.nblocks > 0) {
			snprintf(path, sizeof(path), "%s/heap.svg", argv[3]);
			write_heap(&d, path);
			printf("wrote %s\n", path);
		}
		return 0;
	}
	if (argc == 4 && !strcmp(argv[1], "bench")) {
		write_bench(argv[2], argv[3]);
		printf("wrote %s\n", argv[3]);
		return 0;
	}
	fprintf(stderr, "usage: mksvg memdump LOG OUTDIR | mksvg bench LOG OUT.svg\n");
	return 2;
}
