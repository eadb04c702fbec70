/*
 * The machine-readable picture of memory that tools/mksvg.c turns into SVG:
 * the loader's map, what the kernel placed where, the PMM's allocated runs
 * and the heap's blocks, as "memdump:" lines (format in tools/mksvg.c).
 */
#ifndef MIO_KERNEL_MEMDUMP_H
#define MIO_KERNEL_MEMDUMP_H

/* Prints one complete "memdump: begin" ... "memdump: end" block. */
void memdump_print(void);

#endif
