/*
 * Force-included when lib/string.c is built for its host test, so our
 * functions get names of their own beside the C library's.
 */
#define memcpy mio_memcpy
#define memmove mio_memmove
#define memset mio_memset
#define memcmp mio_memcmp
#define memchr mio_memchr
#define strlen mio_strlen
#define strnlen mio_strnlen
#define strcmp mio_strcmp
#define strncmp mio_strncmp
#define strchr mio_strchr
#define strrchr mio_strrchr
#define strstr mio_strstr
#define strlcpy mio_strlcpy
