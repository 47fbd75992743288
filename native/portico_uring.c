/*
 * Portico's io_uring binding for the fileio and block backstores
 * (server/engine/backstores/uring.ts, fd.ts).
 *
 * Batch-first, never blocking the event loop:
 *   - read()/write()/fsync() only prepare an SQE (no system call). Everything prepared in
 *     one event-loop turn goes to the kernel with one io_uring_submit: from a uv_check
 *     handle (right after the poll phase, where the commands arrived) and a uv_prepare
 *     handle (right before the loop would block, for anything prepared elsewhere). A full
 *     submission queue is submitted on the spot.
 *   - Completions signal one eventfd registered with the ring; libuv polls it (uv_poll).
 *     On a wake-up every CQE in the ring is copied into one shared Int32Array as
 *     (id, result) pairs and JS is called once with the count (one callback scope, so the
 *     responses settled together leave together), not once per completion.
 *   - readNow()/writeNow(): preadv2/pwritev2 with RWF_NOWAIT, done on the event loop when
 *     the page cache can serve them without waiting (-EAGAIN otherwise): no ring round trip
 *     at all for warm-cache reads.
 *   - writeInline(): a plain pwrite on the event loop for a lone write-back write where the file
 *     system refuses RWF_NOWAIT writes (ext4, block devices), first asking cachestat(2) and
 *     /proc/vmstat whether it could sleep (a page not cached or under writeback, dirty limits
 *     near: then nothing is written, the ring takes it), and reporting whether the thread slept
 *     in it (voluntary context switches, getrusage RUSAGE_THREAD) so fd.ts can back off.
 *
 * The buffers stay referenced by the JS side (uring.ts keeps each in its pending slot)
 * until their completion has been delivered, so the kernel reads into / writes from the
 * very Buffers the iSCSI layer sends / received (no copies).
 *
 * One ring per process (the engine's event loop). Built only where liburing's headers
 * are (binding.gyp); without it, or when the kernel refuses io_uring (ENOSYS, EPERM under
 * a seccomp profile), uring.ts says why and fd.ts keeps libuv's thread pool.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>
#include <liburing.h>
#include <node_api.h>
#include <uv.h>

#ifndef RWF_NOWAIT
#define RWF_NOWAIT 0x00000008
#endif
#ifndef RWF_DSYNC
#define RWF_DSYNC 0x00000002
#endif

typedef struct {
  struct io_uring ring;
  int ready;
  int efd;
  unsigned entries;
  unsigned prepared; /* SQEs prepared, not yet submitted */
  int64_t inflight;  /* submitted or prepared, completion not yet delivered */
  uv_poll_t poll;
  uv_check_t check;
  uv_prepare_t prepare;
  napi_env env;
  napi_ref callback;   /* onComplete(count) */
  napi_ref out_ref;    /* the Int32Array the (id, result) pairs are written to */
  int32_t *out;
  size_t out_pairs;
  napi_async_context async;
  /* figures for status and the benchmark's explanation */
  double submits, submitted, wakeups, reaped;
} uring_state;

static uring_state U;

static napi_value throw_errno(napi_env env, const char *what, int err) {
  char text[256];
  if (err < 0) err = -err;
  snprintf(text, sizeof text, "%s: %s", what, strerror(err));
  napi_value msg, code, out, no;
  napi_create_string_utf8(env, text, NAPI_AUTO_LENGTH, &msg);
  napi_create_string_utf8(env, "EIO", NAPI_AUTO_LENGTH, &code);
  napi_create_error(env, code, msg, &out);
  napi_create_int32(env, err, &no);
  napi_set_named_property(env, out, "errno", no);
  napi_throw(env, out);
  return NULL;
}

/* ---- submission ----------------------------------------------------------- */

static void submit_prepared(void) {
  if (!U.ready || U.prepared == 0) return;
  for (;;) {
    int r = io_uring_submit(&U.ring);
    if (r >= 0) {
      U.submits++;
      U.submitted += r;
      U.prepared -= (unsigned)r > U.prepared ? U.prepared : (unsigned)r;
      /* io_uring_submit submits everything in the SQ ring; what it reports is what the kernel took. */
      if (U.prepared == 0 || r == 0) break;
      continue;
    }
    if (r == -EINTR) continue;
    /* EAGAIN/EBUSY: the kernel is short of resources or the CQ is full; the next wake-up reaps and retries. */
    break;
  }
}

static void on_check(uv_check_t *h) {
  (void)h;
  submit_prepared();
}

static void on_prepare(uv_prepare_t *h) {
  (void)h;
  submit_prepared();
}

static struct io_uring_sqe *get_sqe(void) {
  struct io_uring_sqe *sqe = io_uring_get_sqe(&U.ring);
  if (sqe) return sqe;
  /* Submission queue full: hand this batch to the kernel now, then take a slot. */
  submit_prepared();
  return io_uring_get_sqe(&U.ring);
}

static void track(void) {
  U.prepared++;
  /* Outstanding IO keeps the process alive (as a pending fs callback does). */
  if (U.inflight++ == 0) uv_ref((uv_handle_t *)&U.poll);
}

/* ---- completion ----------------------------------------------------------- */

static void deliver(uint32_t count) {
  napi_env env = U.env;
  napi_handle_scope scope;
  napi_open_handle_scope(env, &scope);
  napi_value cb, recv, argv[1], result;
  napi_get_reference_value(env, U.callback, &cb);
  napi_get_global(env, &recv); /* napi_make_callback converts recv to an object: undefined throws */
  napi_create_uint32(env, count, &argv[0]);
  /* napi_make_callback: a callback scope, so promise reactions and nextTicks run when it returns. */
  napi_status st = napi_make_callback(env, U.async, recv, cb, 1, argv, &result);
  if (st == napi_pending_exception) {
    napi_value exc;
    napi_get_and_clear_last_exception(env, &exc);
    napi_fatal_exception(env, exc);
  }
  napi_close_handle_scope(env, scope);
}

static void reap(void) {
  struct io_uring_cqe *cqes[256];
  uint32_t n = 0;
  for (;;) {
    unsigned want = (unsigned)(U.out_pairs - n);
    if (want > 256) want = 256;
    unsigned got = io_uring_peek_batch_cqe(&U.ring, cqes, want);
    for (unsigned i = 0; i < got; i++) {
      U.out[2 * n] = (int32_t)io_uring_cqe_get_data64(cqes[i]);
      U.out[2 * n + 1] = cqes[i]->res;
      n++;
    }
    if (got) io_uring_cq_advance(&U.ring, got);
    U.reaped += got;
    if (n > 0 && (got == 0 || n == U.out_pairs)) {
      U.inflight -= n;
      if (U.inflight <= 0) {
        U.inflight = 0;
        uv_unref((uv_handle_t *)&U.poll);
      }
      /* One JS call for the whole batch (or for each full out array). */
      deliver(n);
      n = 0;
      if (got == 0) break;
      continue;
    }
    if (got == 0) break;
  }
}

static void cleanup(void *arg) {
  (void)arg;
  if (!U.ready) return;
  U.ready = 0;
  uv_poll_stop(&U.poll);
  uv_check_stop(&U.check);
  uv_prepare_stop(&U.prepare);
  uv_close((uv_handle_t *)&U.poll, NULL);
  uv_close((uv_handle_t *)&U.check, NULL);
  uv_close((uv_handle_t *)&U.prepare, NULL);
  io_uring_queue_exit(&U.ring);
  close(U.efd);
}

static void on_poll(uv_poll_t *h, int status, int events) {
  (void)h;
  (void)events;
  if (status < 0) return;
  uint64_t v;
  /* Clear the eventfd first: a completion posted after this read wakes the loop again. */
  while (read(U.efd, &v, sizeof v) < 0 && errno == EINTR) {
  }
  U.wakeups++;
  reap();
  /* Completions may have let JS prepare more (a short read's rest): submit them in this turn. */
  submit_prepared();
}

/* ---- JS API --------------------------------------------------------------- */

static int arg_i64(napi_env env, napi_value v, int64_t *out) {
  double d;
  if (napi_get_value_double(env, v, &d) != napi_ok) return 0;
  *out = (int64_t)d;
  return 1;
}

/*
 * init(entries, onComplete, out: Int32Array) -> undefined; throws with the kernel's reason.
 * `out` holds out.length/2 (id, result) pairs; onComplete(count) reads the first `count`.
 */
static napi_value js_init(napi_env env, napi_callback_info info) {
  size_t argc = 3;
  napi_value argv[3];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  if (U.ready) return throw_errno(env, "io_uring already initialised", EBUSY);
  uint32_t entries;
  napi_typedarray_type type;
  size_t length;
  void *data;
  if (argc < 3 || napi_get_value_uint32(env, argv[0], &entries) != napi_ok ||
      napi_get_typedarray_info(env, argv[2], &type, &length, &data, NULL, NULL) != napi_ok || type != napi_int32_array || length < 2) {
    napi_throw_type_error(env, NULL, "init(entries, onComplete, Int32Array) expected");
    return NULL;
  }
  struct io_uring_params p;
  memset(&p, 0, sizeof p);
  /* The CQ twice the SQ: as many requests may be in flight as the SQ holds twice over. */
  p.flags = IORING_SETUP_CQSIZE;
  p.cq_entries = entries * 2;
  int r = io_uring_queue_init_params(entries, &U.ring, &p);
  if (r < 0) return throw_errno(env, "io_uring_setup", r);
  U.efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  if (U.efd < 0) {
    int e = errno;
    io_uring_queue_exit(&U.ring);
    return throw_errno(env, "eventfd", e);
  }
  r = io_uring_register_eventfd(&U.ring, U.efd);
  if (r < 0) {
    close(U.efd);
    io_uring_queue_exit(&U.ring);
    return throw_errno(env, "io_uring_register_eventfd", r);
  }
  struct uv_loop_s *loop;
  napi_get_uv_event_loop(env, &loop);
  uv_poll_init(loop, &U.poll, U.efd);
  uv_poll_start(&U.poll, UV_READABLE, on_poll);
  uv_unref((uv_handle_t *)&U.poll);
  uv_check_init(loop, &U.check);
  uv_check_start(&U.check, on_check);
  uv_unref((uv_handle_t *)&U.check);
  uv_prepare_init(loop, &U.prepare);
  uv_prepare_start(&U.prepare, on_prepare);
  uv_unref((uv_handle_t *)&U.prepare);
  U.env = env;
  U.entries = entries;
  napi_create_reference(env, argv[1], 1, &U.callback);
  napi_create_reference(env, argv[2], 1, &U.out_ref);
  U.out = (int32_t *)data;
  U.out_pairs = length / 2;
  napi_value name;
  napi_create_string_utf8(env, "portico io_uring completion", NAPI_AUTO_LENGTH, &name);
  napi_async_init(env, NULL, name, &U.async);
  U.ready = 1;
  napi_add_env_cleanup_hook(env, cleanup, NULL);
  return NULL;
}

/* read(fd, buf, bufOffset, length, position, id) / write(fd, buf, bufOffset, length, position, id, dsync) */
static napi_value rw(napi_env env, napi_callback_info info, int write) {
  size_t argc = 7;
  napi_value argv[7];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  int32_t fd, id, dsync = 0;
  int64_t boff, len, pos;
  void *base;
  size_t blen;
  if (!U.ready) return throw_errno(env, "io_uring not initialised", ENXIO);
  if (argc < 6 || napi_get_value_int32(env, argv[0], &fd) != napi_ok || napi_get_buffer_info(env, argv[1], &base, &blen) != napi_ok ||
      !arg_i64(env, argv[2], &boff) || !arg_i64(env, argv[3], &len) || !arg_i64(env, argv[4], &pos) ||
      napi_get_value_int32(env, argv[5], &id) != napi_ok) {
    napi_throw_type_error(env, NULL, "read/write(fd, buffer, bufferOffset, length, position, id) expected");
    return NULL;
  }
  if (write && argc > 6) napi_get_value_int32(env, argv[6], &dsync);
  if (boff < 0 || len <= 0 || pos < 0 || (uint64_t)(boff + len) > blen || len > 0x7fffffff) {
    napi_throw_range_error(env, NULL, "buffer range out of bounds");
    return NULL;
  }
  struct io_uring_sqe *sqe = get_sqe();
  if (!sqe) return throw_errno(env, "io_uring submission queue", EAGAIN);
  if (write) {
    io_uring_prep_write(sqe, fd, (char *)base + boff, (unsigned)len, (uint64_t)pos);
    /* FUA on a write-back file: this write alone reaches stable storage (RWF_DSYNC, SBC-3 §5.37). */
    if (dsync) sqe->rw_flags = RWF_DSYNC;
  } else {
    io_uring_prep_read(sqe, fd, (char *)base + boff, (unsigned)len, (uint64_t)pos);
  }
  io_uring_sqe_set_data64(sqe, (uint64_t)(uint32_t)id);
  track();
  return NULL;
}

static napi_value js_read(napi_env env, napi_callback_info info) { return rw(env, info, 0); }
static napi_value js_write(napi_env env, napi_callback_info info) { return rw(env, info, 1); }

/* fsync(fd, id): fdatasync through the ring (SYNCHRONIZE CACHE). */
static napi_value js_fsync(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  int32_t fd, id;
  if (!U.ready) return throw_errno(env, "io_uring not initialised", ENXIO);
  if (argc < 2 || napi_get_value_int32(env, argv[0], &fd) != napi_ok || napi_get_value_int32(env, argv[1], &id) != napi_ok) {
    napi_throw_type_error(env, NULL, "fsync(fd, id) expected");
    return NULL;
  }
  struct io_uring_sqe *sqe = get_sqe();
  if (!sqe) return throw_errno(env, "io_uring submission queue", EAGAIN);
  io_uring_prep_fsync(sqe, fd, IORING_FSYNC_DATASYNC);
  io_uring_sqe_set_data64(sqe, (uint64_t)(uint32_t)id);
  track();
  return NULL;
}

/*
 * readNow(fd, buf, bufOffset, length, position) / writeNow(...) -> bytes done or -errno.
 * preadv2/pwritev2 with RWF_NOWAIT: served from the page cache on the event loop, or -EAGAIN
 * at once when that would wait (the caller then goes through the ring).
 */
static napi_value now(napi_env env, napi_callback_info info, int write) {
  size_t argc = 5;
  napi_value argv[5], out;
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  int32_t fd;
  int64_t boff, len, pos;
  void *base;
  size_t blen;
  if (argc < 5 || napi_get_value_int32(env, argv[0], &fd) != napi_ok || napi_get_buffer_info(env, argv[1], &base, &blen) != napi_ok ||
      !arg_i64(env, argv[2], &boff) || !arg_i64(env, argv[3], &len) || !arg_i64(env, argv[4], &pos)) {
    napi_throw_type_error(env, NULL, "readNow/writeNow(fd, buffer, bufferOffset, length, position) expected");
    return NULL;
  }
  if (boff < 0 || len < 0 || pos < 0 || (uint64_t)(boff + len) > blen) {
    napi_throw_range_error(env, NULL, "buffer range out of bounds");
    return NULL;
  }
  struct iovec iov = {(char *)base + boff, (size_t)len};
  ssize_t r;
  do {
    r = write ? pwritev2(fd, &iov, 1, (off_t)pos, RWF_NOWAIT) : preadv2(fd, &iov, 1, (off_t)pos, RWF_NOWAIT);
  } while (r < 0 && errno == EINTR);
  napi_create_double(env, r < 0 ? -(double)errno : (double)r, &out);
  return out;
}

/* ---- the inline write's gate -------------------------------------------------
 *
 * A buffered pwrite sleeps (measured on 6.18, ext4 and loop devices, docs/performance.md) when a
 * page it writes is under writeback (the folio lock, stable pages), when it must first be
 * allocated or read, and when the system is over its dirty limits (balance_dirty_pages pauses
 * up to 200 ms). The first two are known per write from cachestat(2) (Linux 6.5) for the very
 * range, one cheap system call; the third from /proc/vmstat, sampled at most every
 * VMSTAT_EVERY_NS: inline only while dirty + writeback pages are below the background
 * threshold, which the kernel's throttling (from halfway between the background and the dirty
 * threshold) is far above. What is left (a journal handle for the mtime update, a race with the
 * flusher) is caught after the fact by the sleep count, and fd.ts backs off.
 */
#ifndef __NR_cachestat
#define __NR_cachestat 451
#endif
struct p_cachestat_range {
  uint64_t off, len;
};
struct p_cachestat {
  uint64_t nr_cache, nr_dirty, nr_writeback, nr_evicted, nr_recently_evicted;
};
enum { GATE_OK = 0, GATE_NOT_CACHED = 1, GATE_WRITEBACK = 2, GATE_DIRTY_LIMITS = 3, GATE_UNKNOWN = 4 };
#define VMSTAT_EVERY_NS 50000000LL
static int vmstat_fd = -2;
static int64_t vmstat_at;
static int dirty_far;

static int64_t mono_ns(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (int64_t)t.tv_sec * 1000000000LL + t.tv_nsec;
}

static long long vmstat_field(const char *text, const char *name) {
  size_t n = strlen(name);
  for (const char *p = text; p && *p; p = strchr(p, '\n'), p = p ? p + 1 : NULL) {
    if (strncmp(p, name, n) == 0 && p[n] == ' ') return atoll(p + n + 1);
  }
  return -1;
}

/* Global dirty + writeback pages below the background threshold (sampled; cgroup v1 here: one domain). */
static int dirty_limits_far(int64_t now) {
  if (vmstat_fd != -2 && now - vmstat_at < VMSTAT_EVERY_NS) return dirty_far;
  vmstat_at = now;
  if (vmstat_fd == -2) vmstat_fd = open("/proc/vmstat", O_RDONLY | O_CLOEXEC);
  dirty_far = 0;
  if (vmstat_fd < 0) return 0;
  char text[16384];
  ssize_t r = pread(vmstat_fd, text, sizeof text - 1, 0);
  if (r <= 0) return 0;
  text[r] = 0;
  long long dirty = vmstat_field(text, "nr_dirty"), wb = vmstat_field(text, "nr_writeback"),
            bg = vmstat_field(text, "nr_dirty_background_threshold");
  dirty_far = dirty >= 0 && wb >= 0 && bg > 0 && dirty + wb < bg;
  return dirty_far;
}

static int cachestat_missing;

/* Whether writing [pos, pos+len) of fd into the page cache is expected not to sleep (GATE_OK), or why not. */
static int inline_gate(int fd, int64_t pos, int64_t len) {
  if (cachestat_missing) return GATE_UNKNOWN;
  int64_t first = pos & ~4095LL, pages = ((pos + len + 4095) & ~4095LL) - first;
  struct p_cachestat_range range = {(uint64_t)first, (uint64_t)pages};
  struct p_cachestat cs;
  if (syscall(__NR_cachestat, fd, &range, &cs, 0) != 0) {
    if (errno == ENOSYS) cachestat_missing = 1;
    return GATE_UNKNOWN;
  }
  if (cs.nr_cache * 4096 < (uint64_t)pages) return GATE_NOT_CACHED;
  if (cs.nr_writeback) return GATE_WRITEBACK;
  if (!dirty_limits_far(mono_ns())) return GATE_DIRTY_LIMITS;
  return GATE_OK;
}

/*
 * writeInline(fd, buf, bufOffset, length, position, info: Int32Array(3), gate) -> bytes written or -errno.
 * With gate != 0, first inline_gate(): when it says the write could sleep, nothing is written,
 * -EAGAIN is returned and info[2] says why (GATE_*). Then a plain pwrite (write-back: into the
 * page cache). info[0] = voluntary context switches of this thread during the pwrite (> 0: it
 * slept in the kernel; preemption is involuntary and not counted), info[1] = µs of CPU this thread
 * spent in it (a wall-clock time would also count being preempted on a busy machine, which is not the
 * file system's doing and which the ring would not spare the event loop either).
 */
static napi_value js_write_inline(napi_env env, napi_callback_info info) {
  size_t argc = 7;
  napi_value argv[7], out;
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  int32_t fd, gate = 0;
  int64_t boff, len, pos;
  void *base, *idata;
  size_t blen, ilen;
  napi_typedarray_type itype;
  if (argc < 6 || napi_get_value_int32(env, argv[0], &fd) != napi_ok || napi_get_buffer_info(env, argv[1], &base, &blen) != napi_ok ||
      !arg_i64(env, argv[2], &boff) || !arg_i64(env, argv[3], &len) || !arg_i64(env, argv[4], &pos) ||
      napi_get_typedarray_info(env, argv[5], &itype, &ilen, &idata, NULL, NULL) != napi_ok || itype != napi_int32_array || ilen < 3) {
    napi_throw_type_error(env, NULL, "writeInline(fd, buffer, bufferOffset, length, position, Int32Array(3), gate) expected");
    return NULL;
  }
  if (argc > 6) napi_get_value_int32(env, argv[6], &gate);
  if (boff < 0 || len < 0 || pos < 0 || (uint64_t)(boff + len) > blen) {
    napi_throw_range_error(env, NULL, "buffer range out of bounds");
    return NULL;
  }
  int32_t *i = (int32_t *)idata;
  i[0] = i[1] = i[2] = 0;
  if (gate && (i[2] = inline_gate(fd, pos, len)) != GATE_OK) {
    napi_create_double(env, -(double)EAGAIN, &out);
    return out;
  }
  struct rusage r0, r1;
  getrusage(RUSAGE_THREAD, &r0);
  ssize_t r;
  do {
    r = pwrite(fd, (char *)base + boff, (size_t)len, (off_t)pos);
  } while (r < 0 && errno == EINTR);
  int err = errno;
  getrusage(RUSAGE_THREAD, &r1);
  i[0] = (int32_t)(r1.ru_nvcsw - r0.ru_nvcsw);
  i[1] = (int32_t)((r1.ru_utime.tv_sec - r0.ru_utime.tv_sec + r1.ru_stime.tv_sec - r0.ru_stime.tv_sec) * 1000000 +
                   (r1.ru_utime.tv_usec - r0.ru_utime.tv_usec + r1.ru_stime.tv_usec - r0.ru_stime.tv_usec));
  napi_create_double(env, r < 0 ? -(double)err : (double)r, &out);
  return out;
}

static napi_value js_read_now(napi_env env, napi_callback_info info) { return now(env, info, 0); }
static napi_value js_write_now(napi_env env, napi_callback_info info) { return now(env, info, 1); }

/* stats() -> { entries, inflight, prepared, submits, submitted, wakeups, reaped } */
static napi_value js_stats(napi_env env, napi_callback_info info) {
  (void)info;
  napi_value o, v;
  napi_create_object(env, &o);
#define SET(name, val) \
  napi_create_double(env, (double)(val), &v); \
  napi_set_named_property(env, o, name, v);
  SET("entries", U.entries);
  SET("inflight", U.inflight);
  SET("prepared", U.prepared);
  SET("submits", U.submits);
  SET("submitted", U.submitted);
  SET("wakeups", U.wakeups);
  SET("reaped", U.reaped);
#undef SET
  return o;
}

static napi_value init(napi_env env, napi_value exports) {
  napi_property_descriptor props[] = {
    {"init", NULL, js_init, NULL, NULL, NULL, napi_default, NULL},
    {"read", NULL, js_read, NULL, NULL, NULL, napi_default, NULL},
    {"write", NULL, js_write, NULL, NULL, NULL, napi_default, NULL},
    {"fsync", NULL, js_fsync, NULL, NULL, NULL, napi_default, NULL},
    {"readNow", NULL, js_read_now, NULL, NULL, NULL, napi_default, NULL},
    {"writeNow", NULL, js_write_now, NULL, NULL, NULL, napi_default, NULL},
    {"writeInline", NULL, js_write_inline, NULL, NULL, NULL, napi_default, NULL},
    {"stats", NULL, js_stats, NULL, NULL, NULL, napi_default, NULL},
  };
  napi_define_properties(env, exports, sizeof props / sizeof props[0], props);
  /* writeInline takes the gate argument (an older build ignores it and must not be used ungated). */
  napi_value gated;
  napi_get_boolean(env, 1, &gated);
  napi_set_named_property(env, exports, "writeInlineGated", gated);
  return exports;
}

NAPI_MODULE(NODE_GYP_MODULE_NAME, init)
