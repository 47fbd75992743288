/* Reads into librbd's own bufferlists (portico_rbd_bl.cc, C++), for portico_rbd.c. */
#ifndef PORTICO_RBD_BL_H
#define PORTICO_RBD_BL_H
#include <stddef.h>
#include <stdint.h>
#include <rbd/librbd.h>
#ifdef __cplusplus
extern "C" {
#endif

/* A new, empty ceph::bufferlist (NULL when out of memory); prbd_bl_free deletes it. */
void *prbd_bl_new(void);
void prbd_bl_free(void *bl);
/* librbd::Image::aio_read2 into `bl`, on the C API's image and completion handles. */
int prbd_aio_read_bl(rbd_image_t image, uint64_t off, size_t len, void *bl, rbd_completion_t comp, int op_flags);
/*
 * After the read: exactly `len` bytes in one contiguous buffer of `bl` (zeros appended to a
 * short read; several segments rebuilt into one by a copy, *rebuilt = 1); its address, valid
 * while `bl` lives. NULL on failure.
 */
char *prbd_bl_flat(void *bl, size_t len, int *rebuilt);

#ifdef __cplusplus
}
#endif
#endif
