/*
 * Strict parsing of what a person types at the console: numbers and words.
 * Nothing here trusts its input: every function either fully accepts a
 * token or reports an error, never a partial value.
 */
#ifndef MIO_LIB_PARSE_H
#define MIO_LIB_PARSE_H

#include "lib/types.h"

/*
 * Parses an unsigned number: decimal ("4096"), hexadecimal ("0x1000"), or
 * either with a binary size suffix K, M or G ("4K", "0x2M"). Returns 0 and
 * sets *out, or -MIO_EINVAL for an empty string, a stray character, or a
 * value that does not fit in 64 bits (*out is then left untouched).
 */
int parse_u64(const char *s, uint64_t *out);

/*
 * Splits line in place at spaces and tabs into at most max words (NUL-
 * terminating each) and stores pointers to them in words. Returns the
 * number of words, or -MIO_EINVAL if there are more than max.
 */
int split_words(char *line, char **words, int max);

#endif
