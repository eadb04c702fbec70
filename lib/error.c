#include "lib/types.h"

const char *mio_strerror(int err)
{
	static const char *const names[] = {
		[MIO_OK] = "ok",
		[MIO_EINVAL] = "invalid argument",
		[MIO_ENOMEM] = "out of memory",
		[MIO_EEXIST] = "already mapped",
		[MIO_ENOENT] = "not mapped",
		[MIO_EPERM] = "protected range",
		[MIO_ENOTSUP] = "not supported by this CPU",
	};
	if (err < 0)
		err = -err;
	if ((size_t)err >= ARRAY_SIZE(names) || !names[err])
		return "unknown error";
	return names[err];
}
