/*
 * Reads into librbd's own buffers (portico_rbd.c's AIO_READ_BL), through librbd's C++ API.
 *
 * rbd_aio_read2 (the C API) gives librbd a flat char buffer, and librbd copies the object
 * data out of the bufferlist the OSD reply arrived in into it: for a 1 MiB read that memcpy
 * was ~150 us of an io_context thread per IO (docs/performance.md, rbd). librbd::Image::aio_read2
 * with a ceph::bufferlist instead hands back references to the reply's own buffers (Striper's
 * assemble_result claims them), so the data is copied once, by the kernel into the socket.
 * The C side turns the (contiguous) bufferlist into an external JS Buffer.
 *
 * The image was opened with the C API (rbd_open): an rbd_image_t is the same librbd::ImageCtx*
 * that librbd::Image keeps as its only member (librbd.hpp: `image_ctx_t ctx`), and an
 * rbd_completion_t is a librbd::RBD::AioCompletion* (rbd_aio_create_completion news one), so
 * the C++ call is made through an Image that borrows the handle and is never destroyed (its
 * destructor would close the image).
 */
#include <new>
#include <rbd/librbd.hpp>
#include "portico_rbd_bl.h"

static_assert(sizeof(librbd::Image) == sizeof(void *), "librbd::Image is expected to hold only its ImageCtx pointer");

extern "C" {

void *prbd_bl_new(void) { return new (std::nothrow) ceph::bufferlist(); }

void prbd_bl_free(void *bl) { delete static_cast<ceph::bufferlist *>(bl); }

int prbd_aio_read_bl(rbd_image_t image, uint64_t off, size_t len, void *bl, rbd_completion_t comp, int op_flags) {
  alignas(librbd::Image) unsigned char storage[sizeof(librbd::Image)];
  void *ctx = image;
  __builtin_memcpy(storage, &ctx, sizeof ctx);
  auto *img = reinterpret_cast<librbd::Image *>(storage); /* borrowed: never destroyed */
  try {
    return img->aio_read2(off, len, *static_cast<ceph::bufferlist *>(bl), static_cast<librbd::RBD::AioCompletion *>(comp), op_flags);
  } catch (...) {
    return -12; /* -ENOMEM: nothing else throws there */
  }
}

char *prbd_bl_flat(void *blp, size_t len, int *rebuilt) {
  auto *bl = static_cast<ceph::bufferlist *>(blp);
  *rebuilt = 0;
  try {
    if (bl->length() < len) bl->append_zero(len - bl->length()); /* a short read: zeros, as rbd_aio_read2 gives */
    if (bl->length() > len) {
      ceph::bufferlist head;
      head.substr_of(*bl, 0, len);
      bl->swap(head);
    }
    if (bl->get_num_buffers() != 1) {
      *rebuilt = 1; /* several segments (or none): one copy into a contiguous buffer */
      if (len == 0) return nullptr;
    }
    return bl->c_str();
  } catch (...) {
    return nullptr;
  }
}

}  // extern "C"
