/*
 * Memory and string functions with their standard C contracts.
 *
 * The kernel is freestanding and gets them from lib/string.c (clang emits
 * calls to memcpy/memset on its own, so they must exist under these names).
 * Hosted builds of portable code use the C library's versions instead; the
 * host test of lib/string.c renames ours (tests/host/string_rename.h) so both
 * can live in one binary.
 */
#ifndef MIO_LIB_STRING_H
#define MIO_LIB_STRING_H

#include <stddef.h>

#if defined(MIO_HOSTED) && !defined(MIO_STRING_UNDER_TEST)
#include <string.h>
#else
void *memcpy(void *restrict dst, const void *restrict src, size_t n);
void *memmove(void *dst, const void *src, size_t n);
void *memset(void *dst, int c, size_t n);
int memcmp(const void *a, const void *b, size_t n);
void *memchr(const void *s, int c, size_t n);
size_t strlen(const char *s);
size_t strnlen(const char *s, size_t max);
int strcmp(const char *a, const char *b);
int strncmp(const char *a, const char *b, size_t n);
char *strchr(const char *s, int c);
char *strrchr(const char *s, int c);
char *strstr(const char *haystack, const char *needle);
/* Copies at most size-1 characters and always terminates; returns strlen(src). */
size_t strlcpy(char *restrict dst, const char *restrict src, size_t size);
#endif

#endif
