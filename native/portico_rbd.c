/*
 * Portico's librbd binding for the rbd backstore (server/engine/backstores/rbd.ts).
 *
 * Data path: librbd's asynchronous API (rbd_aio_*). A request is a slot number of the JS
 * side's table (which keeps its buffers alive); submit() queues it for the submitter thread,
 * which calls librbd (see submitter); the completion callback runs on a librbd thread and
 * queues the request on a done list; the event loop reports every queued request in one
 * N-API thread-safe call (see aio_complete), or, when they completed while it was awake, at the
 * end of its turn without being woken (see turn_drain). Nothing here blocks the loop.
 *
 * Control path (connect, open, stat, resize, extents, pools...): librados/librbd
 * calls that block on the network, run as napi async work on libuv's thread pool.
 *
 * A cluster handle is one rados_t (one connection per ceph.conf + client id, shared
 * by the images that use it: the TypeScript side keeps the table). Handles are
 * napi externals; close()/shutdown() release them explicitly.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <node_api.h>
#include <uv.h>
#include <rados/librados.h>
#include <rbd/librbd.h>
#ifdef PORTICO_RBD_BL
#include "portico_rbd_bl.h"
#endif

/* ---- handles ------------------------------------------------------------ */

typedef struct {
  rados_t cluster;
  int shut;
} cluster_h;

typedef struct {
  cluster_h *cluster;
  rados_ioctx_t io;
  rbd_image_t image;
  int closed;
  int watching;
  uint64_t watch_handle;
  napi_threadsafe_function on_update; /* called (no args) when the image header changes */
} image_h;

/* ---- errors ------------------------------------------------------------- */

static const char *errno_code(int e) {
  switch (e) {
    case ENOENT: return "ENOENT";
    case ETIMEDOUT: return "ETIMEDOUT";
    case EROFS: return "EROFS";
    case ESHUTDOWN: return "EBLOCKLISTED"; /* librados maps a blocklisted client to ESHUTDOWN */
    case EILSEQ: return "EILSEQ";
    case ENOTCONN: return "ENOTCONN";
    case EBUSY: return "EBUSY";
    case EEXIST: return "EEXIST";
    case EINVAL: return "EINVAL";
    case ENOSPC: return "ENOSPC";
    case EDQUOT: return "EDQUOT";
    case EACCES: return "EACCES";
    case EPERM: return "EPERM";
    case ENXIO: return "ENXIO";
    case ECONNREFUSED: return "ECONNREFUSED";
    case EOPNOTSUPP: return "EOPNOTSUPP";
    default: return "EIO";
  }
}

static napi_value make_error(napi_env env, const char *what, int err) {
  char text[512];
  napi_value msg, code, out, no;
  if (err < 0) err = -err;
  snprintf(text, sizeof text, "%s: %s", what, strerror(err));
  napi_create_string_utf8(env, text, NAPI_AUTO_LENGTH, &msg);
  napi_create_string_utf8(env, errno_code(err), NAPI_AUTO_LENGTH, &code);
  napi_create_error(env, code, msg, &out);
  napi_create_int32(env, err, &no);
  napi_set_named_property(env, out, "errno", no);
  return out;
}

static int get_u64(napi_env env, napi_value v, uint64_t *out) {
  double d;
  if (napi_get_value_double(env, v, &d) != napi_ok || d < 0) return 0;
  *out = (uint64_t)d;
  return 1;
}

static char *get_str(napi_env env, napi_value v) {
  size_t len;
  if (napi_get_value_string_utf8(env, v, NULL, 0, &len) != napi_ok) return NULL;
  char *s = malloc(len + 1);
  napi_get_value_string_utf8(env, v, s, len + 1, &len);
  return s;
}

static void *get_external(napi_env env, napi_value v) {
  void *p = NULL;
  if (napi_get_value_external(env, v, &p) != napi_ok) return NULL;
  return p;
}

/* ---- asynchronous data path ---------------------------------------------- */

/*
 * AIO_READ_BL: a read into librbd's own buffers (no copy in librbd; portico_rbd_bl.cc), handed to
 * JS as an external Buffer that releaseRead() detaches, freeing librbd's buffer at once.
 */
enum aio_op { AIO_READ, AIO_WRITE, AIO_FLUSH, AIO_DISCARD, AIO_WRITESAME, AIO_CAW, AIO_ZEROES, AIO_READ_BL };

/*
 * One request per IO, named by a slot number the JS side chose (its table holds the promise
 * and keeps the request's buffers alive: ArrayBuffer memory never moves, so the raw pointers
 * librbd writes to or reads from stay valid). No napi promise, reference or object per IO.
 */
typedef struct aio_req {
  rbd_completion_t comp; /* NULL when librbd refused the request (err says why) */
  uint64_t mismatch;
  double slot;
  struct aio_req *next; /* in the submission queue, then in the done list */
  /* What to submit (the submitter thread calls librbd with these). */
  image_h *img;
  int op, flags, err;
  uint64_t off, len;
  char *b1, *b2;
  size_t l1;
  uint64_t budget; /* data bytes counted in aio_out_bytes while in librbd */
  void *bl;      /* AIO_READ_BL: the ceph::bufferlist librbd reads into */
  char *bl_data; /* ...and its contiguous data once read (set on the librbd thread) */
} aio_req;

/* AIO_READ_BL reads done, and how many of them had to be made contiguous by a copy (stats()). */
static uint64_t bl_reads = 0, bl_rebuilt = 0;

#ifdef PORTICO_RBD_BL
/* The JS Buffer over a read's bufferlist is gone (detached by releaseRead, or collected). */
static void free_bl(napi_env env, void *data, void *hint) {
  (void)env;
  (void)data;
  prbd_bl_free(hint);
}
#endif

/*
 * Completions are batched. librbd's threads append finished requests to one done list and
 * signal the thread-safe function only when the list was empty; the event loop then reports
 * every request on the list in one JS call: (slot, return value, mismatch offset) triples
 * written into the Float64Array given to setup(), then onDone(count). Node runs each
 * thread-safe call in its own callback scope (microtasks and nextTicks after each), so one
 * call per completion meant each response was corked and flushed on its own: one writev per
 * IO, against ~30 per writev when a batch of responses leaves together (docs/performance.md, rbd).
 */
static napi_threadsafe_function aio_tsfn = NULL;
static int64_t aio_inflight = 0;
static pthread_mutex_t aio_done_lock = PTHREAD_MUTEX_INITIALIZER;
static aio_req *aio_done_head = NULL, *aio_done_tail = NULL;

/*
 * Completion coalescing, the way a NIC moderates its interrupts. Each wake-up of the event
 * loop for completions costs an eventfd write, an epoll return, a callback scope, and one
 * writev of the responses (which wakes the initiator in turn); with librbd finishing reads one
 * at a time that was ~0.4 wake-ups and writevs per IO against ~0.03 for a ramdisk LUN at QD32,
 * and most of the loop's extra CPU per rbd read (docs/performance.md, rbd). So while many
 * requests are still in librbd (aio_outstanding >= coalesce_below), the first completion of a
 * batch does not wake the loop: the coalescer thread does, coalesce_us later or as soon as
 * coalesce_max completions wait, whichever comes first. With few requests outstanding (QD1,
 * the tail of a burst) the loop is woken at once, as before: a lone command never waits.
 * All of this state is under aio_done_lock.
 */
static int64_t aio_outstanding = 0; /* submitted, not yet on the done list */
static uint64_t aio_out_bytes = 0;  /* their data bytes (reads, writes): see submit_inline_ok */
static size_t aio_done_n = 0;       /* on the done list */
static int loop_signaled = 0;       /* a thread-safe call is pending: it drains the whole list */
static struct timespec first_done;  /* when the oldest request on the list finished */
static pthread_cond_t co_cond;      /* CLOCK_MONOTONIC */
static int co_waiting = 0;
static long coalesce_us = 100;
static int64_t coalesce_below = 8;
static size_t coalesce_max = 16;
static napi_ref aio_ring_ref = NULL;
static double *aio_ring = NULL;
static size_t aio_ring_entries = 0;

/*
 * Completions at the end of the loop's turn. While the event loop is awake (it submitted a
 * request or ran onDone in this turn: loop_awake), a completion is only queued: no
 * thread-safe call (an eventfd write and an epoll wake-up), no coalescer hand-off. The loop
 * delivers what is queued in its prepare phase, right before it would block in epoll, and only
 * there, under aio_done_lock, declares itself asleep (loop_awake = 0); completions after that
 * wake it as before. A thread-safe call cannot run before that point anyway (it runs in the
 * poll phase), so nothing waits longer, and completions the coalescer would have held up to
 * coalesce_us while the loop worked go out at the end of the turn. Written only by the loop
 * thread; 1 -> 0 only under aio_done_lock, together with the check that the list is empty (so a
 * completion that saw 1 is on the list the prepare phase drains); aio_done reads it under that
 * lock. PORTICO_RBD_TURN_DRAIN=0 turns it off (every completion goes through the wake-up path).
 */
static int turn_drain = 1;
static int loop_awake = 0;
static uv_prepare_t turn_prepare;
static napi_env aio_env = NULL;
static napi_ref aio_cb_ref = NULL;
static napi_async_context aio_async = NULL;
static uint64_t turn_drained = 0; /* completions delivered at a turn's end without a wake-up (stats()) */

static inline void mark_awake(void) {
  if (turn_drain) __atomic_store_n(&loop_awake, 1, __ATOMIC_RELAXED);
}

/* Calls onDone(count, bufs): from the thread-safe call (inside its callback scope), or from the prepare phase (napi_make_callback: its own scope, so promise reactions and nextTicks run after). */
static void call_on_done(napi_env env, napi_value js_cb, napi_value *args, int own_scope) {
  napi_value undef;
  napi_get_undefined(env, &undef);
  if (!own_scope) {
    napi_call_function(env, undef, js_cb, 2, args, NULL);
    return;
  }
  napi_value recv;
  napi_get_global(env, &recv); /* napi_make_callback converts recv to an object: undefined throws */
  if (napi_make_callback(env, aio_async, recv, js_cb, 2, args, NULL) == napi_pending_exception) {
    napi_value exc;
    napi_get_and_clear_last_exception(env, &exc);
    napi_fatal_exception(env, exc);
  }
}

/* Reports the requests r (a list taken off the done list) to onDone, up to the ring's size per call. */
static void deliver(napi_env env, napi_value js_cb, aio_req *r, int own_scope) {
  napi_value undef, args[2];
  napi_get_undefined(env, &undef);
  while (r) {
    size_t n = 0;
    napi_value bufs = NULL; /* the READ_BL reads' Buffers by ring index, made when there are some */
    while (r && n < aio_ring_entries) {
      aio_req *next = r->next;
      double ret = r->comp ? (double)rbd_aio_get_return_value(r->comp) : (double)r->err;
      if (r->bl) {
#ifdef PORTICO_RBD_BL
        napi_value buf;
        if (ret >= 0 && (!r->bl_data || napi_create_external_buffer(env, r->len, r->bl_data, free_bl, r->bl, &buf) != napi_ok)) ret = -ENOMEM;
        if (ret >= 0) {
          if (!bufs) napi_create_array(env, &bufs);
          napi_set_element(env, bufs, (uint32_t)n, buf);
        } else prbd_bl_free(r->bl);
#endif
      }
      aio_ring[3 * n] = r->slot;
      aio_ring[3 * n + 1] = ret;
      aio_ring[3 * n + 2] = (double)r->mismatch;
      if (r->comp) rbd_aio_release(r->comp);
      free(r);
      n++;
      r = next;
    }
    aio_inflight -= (int64_t)n;
    napi_create_uint32(env, (uint32_t)n, &args[0]);
    args[1] = bufs ? bufs : undef;
    call_on_done(env, js_cb, args, own_scope);
  }
  if (aio_inflight == 0) napi_unref_threadsafe_function(env, aio_tsfn);
}

static void aio_call_js(napi_env env, napi_value js_cb, void *context, void *data) {
  (void)context;
  (void)data;
  pthread_mutex_lock(&aio_done_lock);
  aio_req *r = aio_done_head;
  aio_done_head = aio_done_tail = NULL;
  aio_done_n = 0;
  loop_signaled = 0;
  pthread_mutex_unlock(&aio_done_lock);
  if (env == NULL) return; /* shutting down */
  mark_awake(); /* its prepare phase delivers what completes meanwhile */
  deliver(env, js_cb, r, 0);
}

/* The loop's prepare phase (see turn_drain): deliver what completed while it was awake, then declare it asleep. */
static void on_turn_prepare(uv_prepare_t *h) {
  (void)h;
  if (!__atomic_load_n(&loop_awake, __ATOMIC_RELAXED)) return;
  for (;;) {
    pthread_mutex_lock(&aio_done_lock);
    aio_req *r = aio_done_head;
    if (!r) {
      loop_awake = 0;
      pthread_mutex_unlock(&aio_done_lock);
      return;
    }
    turn_drained += aio_done_n;
    aio_done_head = aio_done_tail = NULL;
    aio_done_n = 0;
    loop_signaled = 0; /* a thread-safe call still pending finds the list empty */
    pthread_mutex_unlock(&aio_done_lock);
    napi_handle_scope scope;
    napi_open_handle_scope(aio_env, &scope);
    napi_value cb;
    napi_get_reference_value(aio_env, aio_cb_ref, &cb);
    deliver(aio_env, cb, r, 1);
    napi_close_handle_scope(aio_env, scope);
  }
}

static void turn_cleanup(void *arg) {
  (void)arg;
  uv_prepare_stop(&turn_prepare);
  uv_close((uv_handle_t *)&turn_prepare, NULL);
}

static void aio_done(aio_req *r);

static void aio_complete(rbd_completion_t c, void *arg) {
  aio_req *r = (aio_req *)arg;
#ifdef PORTICO_RBD_BL
  /* On librbd's thread, not the loop: a bufferlist of several segments is made one here (a copy). */
  if (r->bl && rbd_aio_get_return_value(c) >= 0) {
    int rebuilt = 0;
    r->bl_data = prbd_bl_flat(r->bl, r->len, &rebuilt);
    __atomic_add_fetch(&bl_reads, 1, __ATOMIC_RELAXED);
    if (rebuilt) __atomic_add_fetch(&bl_rebuilt, 1, __ATOMIC_RELAXED);
  }
#else
  (void)c;
#endif
  aio_done(r);
}

/* On a librbd thread (or the submitter): queue it; wake the event loop now, leave it to the coalescer, or nothing (already woken). */
static void aio_done(aio_req *r) {
  r->next = NULL;
  int wake_loop = 0, wake_co = 0;
  pthread_mutex_lock(&aio_done_lock);
  if (aio_done_tail) aio_done_tail->next = r;
  else aio_done_head = r;
  aio_done_tail = r;
  aio_done_n++;
  aio_outstanding--;
  aio_out_bytes -= r->budget;
  if (!loop_signaled && !__atomic_load_n(&loop_awake, __ATOMIC_RELAXED)) {
    if (aio_outstanding < coalesce_below || aio_done_n >= coalesce_max) {
      loop_signaled = 1;
      wake_loop = 1;
    } else if (aio_done_n == 1) {
      clock_gettime(CLOCK_MONOTONIC, &first_done);
      wake_co = co_waiting;
    }
  }
  pthread_mutex_unlock(&aio_done_lock);
  if (wake_loop) napi_call_threadsafe_function(aio_tsfn, NULL, napi_tsfn_nonblocking);
  else if (wake_co) pthread_cond_signal(&co_cond);
}

/* Wakes the loop for a held batch once its oldest completion is coalesce_us old (see aio_done). */
static void *coalescer(void *arg) {
  (void)arg;
  pthread_mutex_lock(&aio_done_lock);
  for (;;) {
    /* Nothing held, the loop already signaled, or awake (its prepare phase delivers the list). */
    while (!aio_done_head || loop_signaled || __atomic_load_n(&loop_awake, __ATOMIC_RELAXED)) {
      co_waiting = 1;
      pthread_cond_wait(&co_cond, &aio_done_lock);
      co_waiting = 0;
    }
    struct timespec deadline = first_done;
    deadline.tv_nsec += coalesce_us * 1000;
    if (deadline.tv_nsec >= 1000000000L) {
      deadline.tv_sec++;
      deadline.tv_nsec -= 1000000000L;
    }
    struct timespec batch = first_done;
    if (pthread_cond_timedwait(&co_cond, &aio_done_lock, &deadline) != ETIMEDOUT) continue; /* re-check */
    /* Signal unless the loop drained that batch meanwhile (a newer batch has its own deadline). */
    if (aio_done_head && !loop_signaled && !__atomic_load_n(&loop_awake, __ATOMIC_RELAXED) && batch.tv_sec == first_done.tv_sec && batch.tv_nsec == first_done.tv_nsec) {
      loop_signaled = 1;
      pthread_mutex_unlock(&aio_done_lock);
      napi_call_threadsafe_function(aio_tsfn, NULL, napi_tsfn_nonblocking);
      pthread_mutex_lock(&aio_done_lock);
    }
  }
  return NULL;
}

/*
 * Submission happens on a thread of ours, not on the event loop. librbd's aio calls hand each
 * request to its io_context thread with a condition-variable signal: on the event loop that
 * was a futex wake-up per IO (19 % of the loop's samples in a 4 KiB random read run, perf,
 * docs/performance.md rbd), plus librbd's request set-up and, for writes, its copy of the data
 * into the cache. The loop now appends the request to a queue and signals this thread only if
 * it is waiting (one wake-up per burst of commands, not per command); the thread submits in
 * queue order. The cluster connections run with rbd_non_blocking_aio=false (rbd.ts), so
 * librbd does its submission work inline on this thread instead of waking its io_context
 * thread: the number of thread hops per IO is unchanged. One FIFO for every image keeps the
 * order in which requests reach librbd the order of submit() calls, as before.
 */
static pthread_mutex_t sub_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t sub_cond = PTHREAD_COND_INITIALIZER;
static aio_req *sub_head = NULL, *sub_tail = NULL;
static int sub_waiting = 0;
static pthread_t sub_thread;

static void submit_one(aio_req *r) {
  image_h *img = r->img;
  int rc;
  rbd_aio_create_completion(r, aio_complete, &r->comp);
  switch (r->op) {
    case AIO_READ: rc = rbd_aio_read2(img->image, r->off, r->len, r->b1, r->comp, 0); break;
    case AIO_WRITE: rc = rbd_aio_write2(img->image, r->off, r->len, r->b1, r->comp, r->flags); break;
    case AIO_FLUSH: rc = rbd_aio_flush(img->image, r->comp); break;
    case AIO_DISCARD: rc = rbd_aio_discard(img->image, r->off, r->len, r->comp); break;
    case AIO_WRITESAME: rc = rbd_aio_writesame(img->image, r->off, r->len, r->b1, r->l1, r->comp, r->flags); break;
    case AIO_CAW: rc = (int)rbd_aio_compare_and_write(img->image, r->off, r->len, r->b1, r->b2, r->comp, &r->mismatch, r->flags); break;
    case AIO_ZEROES: rc = rbd_aio_write_zeroes(img->image, r->off, r->len, r->comp, 0, r->flags); break;
#ifdef PORTICO_RBD_BL
    case AIO_READ_BL: rc = prbd_aio_read_bl(img->image, r->off, r->len, r->bl, r->comp, 0); break;
#endif
    default: rc = -EINVAL;
  }
  if (rc < 0) {
    /* Not queued: librbd will not call back, so report it through the done list ourselves. */
    rbd_aio_release(r->comp);
    r->comp = NULL;
    r->err = rc;
    aio_done(r);
  }
}

static void *submitter(void *arg) {
  (void)arg;
  for (;;) {
    pthread_mutex_lock(&sub_lock);
    while (!sub_head) {
      sub_waiting = 1;
      pthread_cond_wait(&sub_cond, &sub_lock);
      sub_waiting = 0;
    }
    aio_req *r = sub_head;
    sub_head = sub_tail = NULL;
    pthread_mutex_unlock(&sub_lock);
    int64_t n = 0;
    uint64_t bytes = 0;
    for (aio_req *q = r; q; q = q->next) {
      n++;
      bytes += q->budget;
    }
    pthread_mutex_lock(&aio_done_lock);
    aio_outstanding += n; /* before librbd can complete any of them */
    aio_out_bytes += bytes;
    pthread_mutex_unlock(&aio_done_lock);
    while (r) {
      aio_req *next = r->next;
      r->next = NULL;
      submit_one(r);
      r = next;
    }
  }
  return NULL;
}

/*
 * Reads are submitted from the event loop itself when that cannot block and keeps the order:
 * waking the submitter for them cost a thread hand-off per burst (0.19 context switches per 4 KiB
 * read at QD32, and the submitter thread 15 us of CPU per read against the ~10 us librbd's
 * submission takes inline; docs/performance.md, rbd, 2026-12-03 afternoon). Why it does not
 * block (librbd 16.2, rbd_non_blocking_aio=false, so api::Io -> ImageDispatcher runs inline):
 * every dispatch layer defers rather than waits (exclusive lock not held: ExclusiveLockImageDispatch
 * queues the IO and acquires asynchronously, or fails it at once in managed-lock mode; refresh
 * needed: RefreshImageDispatch refreshes asynchronously; QoS: TokenBucketThrottle queues; reads
 * bypass the write-around cache); its locks are held only briefly by others. What can block is
 * the Objecter's in-flight budget (objecter_inflight_ops / objecter_inflight_op_bytes: op_submit
 * waits for room). So a read goes inline only while few requests and bytes are in librbd
 * (inline_max_ops, inline_max_bytes: far below the budget, which rbd.ts also raises past what
 * librbd's write-around cache can add), and only when the submitter is idle with nothing queued
 * (then every earlier request has been submitted: the order of submit() calls is kept). Only
 * reads into our buffers (below PORTICO_RBD_BL_READ_MIN, 64 KiB): for 1 MiB reads into librbd's
 * buffers the loop is the busiest thread and inline submission lowered IOPS in 4 of 4 alternated
 * rounds (739 -> 588 median). Writes (librbd copies their data on the calling thread), flushes
 * and the rest keep the submitter too.
 * PORTICO_RBD_INLINE_READS=0 turns this off, for measuring; PORTICO_RBD_INLINE_MAX_OPS lowers the
 * 256 (tests).
 */
static int inline_reads = 1;
static int64_t inline_max_ops = 256;
static uint64_t inline_max_bytes = 16u << 20;
static uint64_t submits_inline = 0, submits_thread = 0; /* stats(); the event loop's only */

/* Under sub_lock, on the event loop: may r be submitted right here? Counts it in librbd if so. */
static int submit_inline_ok(aio_req *r) {
  if (!inline_reads || r->op != AIO_READ || !sub_waiting || sub_head) return 0;
  int ok = 0;
  pthread_mutex_lock(&aio_done_lock);
  if (aio_outstanding < inline_max_ops && aio_out_bytes + r->budget <= inline_max_bytes) {
    aio_outstanding++; /* before librbd can complete it */
    aio_out_bytes += r->budget;
    ok = 1;
  }
  pthread_mutex_unlock(&aio_done_lock);
  return ok;
}

/* setup(onDone(count), ring: Float64Array of 3×N) — once, before the first submit. */
static napi_value js_setup(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2], name;
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  napi_typedarray_type type;
  size_t length = 0;
  void *data = NULL;
  if (aio_tsfn) {
    napi_throw_error(env, NULL, "rbd setup: already done");
    return NULL;
  }
  if (argc < 2 || napi_get_typedarray_info(env, argv[1], &type, &length, &data, NULL, NULL) != napi_ok || type != napi_float64_array || length < 3) {
    napi_throw_type_error(env, NULL, "setup(onDone, ring: Float64Array)");
    return NULL;
  }
  const char *e0;
  napi_create_string_utf8(env, "rbd aio completion", NAPI_AUTO_LENGTH, &name);
  if (napi_create_threadsafe_function(env, argv[0], NULL, name, 0, 1, NULL, NULL, NULL, aio_call_js, &aio_tsfn) != napi_ok) {
    napi_throw_error(env, NULL, "cannot create the rbd completion queue");
    return NULL;
  }
  napi_unref_threadsafe_function(env, aio_tsfn);
  if ((e0 = getenv("PORTICO_RBD_TURN_DRAIN")) && strcmp(e0, "0") == 0) turn_drain = 0;
  uv_loop_t *loop = NULL;
  if (turn_drain && napi_get_uv_event_loop(env, &loop) == napi_ok && loop) {
    napi_value async_name;
    aio_env = env;
    napi_create_reference(env, argv[0], 1, &aio_cb_ref);
    napi_create_string_utf8(env, "rbd aio completion (turn end)", NAPI_AUTO_LENGTH, &async_name);
    napi_async_init(env, NULL, async_name, &aio_async);
    uv_prepare_init(loop, &turn_prepare);
    uv_prepare_start(&turn_prepare, on_turn_prepare);
    uv_unref((uv_handle_t *)&turn_prepare); /* never what keeps the process alive */
    napi_add_env_cleanup_hook(env, turn_cleanup, NULL);
  } else turn_drain = 0;
  /* Coalescing knobs, for measuring (docs/performance.md, rbd): PORTICO_RBD_COALESCE_US=0 turns it off. */
  const char *e;
  if ((e = getenv("PORTICO_RBD_COALESCE_US"))) coalesce_us = strtol(e, NULL, 10);
  if ((e = getenv("PORTICO_RBD_COALESCE_BELOW"))) coalesce_below = strtol(e, NULL, 10);
  if ((e = getenv("PORTICO_RBD_COALESCE_MAX"))) coalesce_max = (size_t)strtol(e, NULL, 10);
  if (coalesce_us <= 0) coalesce_below = INT64_MAX; /* every completion wakes the loop at once */
  if ((e = getenv("PORTICO_RBD_INLINE_READS")) && strcmp(e, "0") == 0) inline_reads = 0;
  if ((e = getenv("PORTICO_RBD_INLINE_MAX_OPS"))) {
    long max_ops = strtol(e, NULL, 10);
    if (max_ops > 0 && max_ops <= 256) inline_max_ops = max_ops;
  }
  pthread_condattr_t cattr;
  pthread_condattr_init(&cattr);
  pthread_condattr_setclock(&cattr, CLOCK_MONOTONIC);
  pthread_cond_init(&co_cond, &cattr);
  pthread_condattr_destroy(&cattr);
  pthread_attr_t attr;
  pthread_attr_init(&attr);
  pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
  pthread_t co_thread;
  int terr = pthread_create(&sub_thread, &attr, submitter, NULL);
  if (terr == 0) {
    pthread_setname_np(sub_thread, "rbd-submit");
    terr = pthread_create(&co_thread, &attr, coalescer, NULL);
    if (terr == 0) pthread_setname_np(co_thread, "rbd-coalesce");
  }
  pthread_attr_destroy(&attr);
  if (terr != 0) {
    napi_throw_error(env, NULL, "cannot start the rbd submission threads");
    return NULL;
  }
  napi_create_reference(env, argv[1], 1, &aio_ring_ref);
  aio_ring = (double *)data;
  aio_ring_entries = length / 3;
  return NULL;
}

/*
 * submit(image, op, offset, length, slot, buf1?, buf2?, fua?) -> 0 queued, or -errno (not
 * queued: no completion will come).
 *   read: buf1 receives `length` bytes; write/writesame: buf1 is the data; compare-and-write:
 *   buf1 compare, buf2 write data (completes with -EILSEQ and the mismatch offset on a
 *   miscompare); discard/zeroes/flush take no buffer. The caller keeps the buffers alive
 *   until the completion.
 */
static napi_value js_submit(napi_env env, napi_callback_info info) {
  size_t argc = 8;
  napi_value argv[8], out;
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  int32_t op, fua = 0;
  uint64_t off = 0, len = 0;
  double slot = 0;
  image_h *img = argc >= 1 ? get_external(env, argv[0]) : NULL;
  if (argc < 5 || !img || !aio_tsfn || napi_get_value_int32(env, argv[1], &op) != napi_ok || !get_u64(env, argv[2], &off) || !get_u64(env, argv[3], &len) ||
      napi_get_value_double(env, argv[4], &slot) != napi_ok || op < 0 || op > AIO_READ_BL) {
    napi_throw_type_error(env, NULL, "submit(image, op, offset, length, slot, buf1?, buf2?, fua?) after setup()");
    return NULL;
  }
  if (argc >= 8) napi_get_value_int32(env, argv[7], &fua);
  int rc;
  if (img->closed) {
    rc = -EBADF; /* closed: the JS side says so */
    napi_create_int32(env, rc, &out);
    return out;
  }
  char *b1 = NULL, *b2 = NULL;
  size_t l1 = 0, l2 = 0;
  if (argc >= 6) napi_get_buffer_info(env, argv[5], (void **)&b1, &l1);
  if (argc >= 7) napi_get_buffer_info(env, argv[6], (void **)&b2, &l2);
  int needs1 = op == AIO_READ || op == AIO_WRITE || op == AIO_WRITESAME || op == AIO_CAW;
  if ((needs1 && (!b1 || (op != AIO_WRITESAME && l1 < len))) || (op == AIO_CAW && (!b2 || l2 < len))) {
    napi_throw_range_error(env, NULL, "submit: buffer missing or shorter than length");
    return NULL;
  }
#ifndef PORTICO_RBD_BL
  if (op == AIO_READ_BL) {
    napi_create_int32(env, -EOPNOTSUPP, &out); /* built without librados' C++ headers */
    return out;
  }
#endif
  aio_req *r = malloc(sizeof *r);
  if (!r) {
    napi_create_int32(env, -ENOMEM, &out);
    return out;
  }
  r->bl = NULL;
  r->bl_data = NULL;
#ifdef PORTICO_RBD_BL
  if (op == AIO_READ_BL && !(r->bl = prbd_bl_new())) {
    free(r);
    napi_create_int32(env, -ENOMEM, &out);
    return out;
  }
#endif
  r->comp = NULL;
  r->mismatch = 0;
  r->slot = slot;
  r->next = NULL;
  r->img = img;
  r->op = op;
  r->flags = fua ? LIBRADOS_OP_FLAG_FADVISE_FUA : 0;
  r->err = 0;
  r->off = off;
  r->len = len;
  r->b1 = b1;
  r->b2 = b2;
  r->l1 = l1;
  r->budget = op == AIO_READ || op == AIO_READ_BL || op == AIO_WRITE ? len : op == AIO_CAW ? 2 * len : 0;
  /* Submitted here (see submit_inline_ok), or queued for the submitter thread; a request librbd
   * then refuses completes with its error through the done list either way. */
  pthread_mutex_lock(&sub_lock);
  int here = submit_inline_ok(r), wake = 0;
  if (!here) {
    if (sub_tail) sub_tail->next = r;
    else sub_head = r;
    sub_tail = r;
    wake = sub_waiting;
  }
  pthread_mutex_unlock(&sub_lock);
  if (aio_inflight++ == 0) napi_ref_threadsafe_function(env, aio_tsfn);
  mark_awake(); /* this turn's prepare phase delivers what completes meanwhile */
  if (here) {
    submits_inline++;
    submit_one(r);
  } else {
    submits_thread++;
    if (wake) pthread_cond_signal(&sub_cond);
  }
  rc = 0;
  napi_create_int32(env, rc, &out);
  return out;
}

/* errorOf(op, errno) -> Error with code (ETIMEDOUT, EBLOCKLISTED...), errno and "rbd <op>: <strerror>". */
static napi_value js_error_of(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  int32_t op = 0, err = EIO;
  if (argc >= 1) napi_get_value_int32(env, argv[0], &op);
  if (argc >= 2) napi_get_value_int32(env, argv[1], &err);
  static const char *names[] = {"rbd read", "rbd write", "rbd flush", "rbd discard", "rbd writesame", "rbd compare-and-write", "rbd write zeroes", "rbd read"};
  return make_error(env, op >= 0 && op <= AIO_READ_BL ? names[op] : "rbd aio", err);
}

static void set_num(napi_env env, napi_value obj, const char *key, double n);

/*
 * releaseRead(buf): the Data-In of a READ_BL read has left; detach its ArrayBuffer, which drops
 * the external memory at once (librbd's buffer freed, V8's external-memory count lowered) rather
 * than at some later GC; every view of it reads as empty from then on, never freed memory.
 */
static napi_value js_release_read(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1], ab;
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  napi_typedarray_type type;
  size_t length, offset;
  void *data;
  if (argc < 1 || napi_get_typedarray_info(env, argv[0], &type, &length, &data, &ab, &offset) != napi_ok || napi_detach_arraybuffer(env, ab) != napi_ok) {
    napi_throw_type_error(env, NULL, "releaseRead(buffer of a read into librbd's buffers)");
    return NULL;
  }
  return NULL;
}

/* stats() -> {readsIntoLibrbdBuffers, blReads, blRebuilt, submitsInline, submitsThread}: whether READ_BL is built, how many
 * such reads needed a copy, and how many requests were submitted from the event loop / by the submitter thread. */
static napi_value js_stats(napi_env env, napi_callback_info info) {
  (void)info;
  napi_value out, b;
  napi_create_object(env, &out);
#ifdef PORTICO_RBD_BL
  napi_get_boolean(env, true, &b);
#else
  napi_get_boolean(env, false, &b);
#endif
  napi_set_named_property(env, out, "readsIntoLibrbdBuffers", b);
  set_num(env, out, "blReads", (double)__atomic_load_n(&bl_reads, __ATOMIC_RELAXED));
  set_num(env, out, "blRebuilt", (double)__atomic_load_n(&bl_rebuilt, __ATOMIC_RELAXED));
  set_num(env, out, "submitsInline", (double)submits_inline);
  set_num(env, out, "submitsThread", (double)submits_thread);
  set_num(env, out, "turnDrained", (double)turn_drained);
  return out;
}

/* ---- blocking control path on the thread pool ---------------------------- */

enum job_op { J_CONNECT, J_SHUTDOWN, J_OPEN, J_CLOSE, J_STAT, J_RESIZE, J_EXTENTS, J_POOLS, J_IMAGES, J_CREATE, J_REMOVE, J_MON_COMMAND };

typedef struct {
  uint64_t off, len;
  int exists;
} extent;

typedef struct {
  enum job_op op;
  napi_deferred deferred;
  napi_async_work work;
  int err;
  char what[256];
  /* inputs */
  char *s1, *s2, *s3;      /* connect: conf, id; open/create/remove: pool, image; mon: json */
  char **opts;             /* connect: key, value, key, value..., NULL */
  uint64_t u1, u2, u3;     /* offsets, sizes, features */
  cluster_h *cluster;
  image_h *image;
  /* outputs */
  char mon_host[256];
  uint64_t size, features, obj_size, used;
  int lock_mode, lock_count;
  char *lock_owners[8];
  extent *extents;
  size_t n_extents, cap_extents;
  char *list;              /* NUL-separated names */
  size_t list_len;
  struct rados_pool_stat_t *pool_stats;
  struct rados_cluster_stat_t cluster_stat;
  char *out;
  size_t out_len;
} job;

static int extent_cb(uint64_t off, size_t len, int exists, void *arg) {
  job *j = (job *)arg;
  if (j->n_extents == j->cap_extents) {
    if (j->cap_extents >= 4096) return -ECANCELED; /* enough for one GET LBA STATUS reply */
    j->cap_extents = j->cap_extents ? j->cap_extents * 2 : 64;
    j->extents = realloc(j->extents, j->cap_extents * sizeof(extent));
  }
  j->extents[j->n_extents++] = (extent){off, len, exists};
  return 0;
}

static int used_cb(uint64_t off, size_t len, int exists, void *arg) {
  (void)off;
  if (exists) ((job *)arg)->used += len;
  return 0;
}

static void job_execute(napi_env env, void *data) {
  (void)env;
  job *j = (job *)data;
  int r = 0;
  switch (j->op) {
    case J_CONNECT: {
      rados_t c;
      snprintf(j->what, sizeof j->what, "cannot create a Ceph client for client.%s", j->s2);
      if ((r = rados_create(&c, j->s2)) < 0) break;
      if ((r = rados_conf_read_file(c, j->s1)) < 0) {
        snprintf(j->what, sizeof j->what, "cannot read Ceph configuration %s", j->s1);
        rados_shutdown(c);
        break;
      }
      for (char **o = j->opts; o && o[0] && o[1]; o += 2) {
        if ((r = rados_conf_set(c, o[0], o[1])) < 0) {
          snprintf(j->what, sizeof j->what, "cannot set Ceph option %s=%s", o[0], o[1]);
          break;
        }
      }
      if (r < 0) {
        rados_shutdown(c);
        break;
      }
      if (rados_conf_get(c, "mon_host", j->mon_host, sizeof j->mon_host) < 0) j->mon_host[0] = 0;
      if ((r = rados_connect(c)) < 0) {
        snprintf(j->what, sizeof j->what, "cannot reach the Ceph monitors %s (conf %s, client.%s)", j->mon_host[0] ? j->mon_host : "(none configured)", j->s1, j->s2);
        rados_shutdown(c);
        break;
      }
      j->cluster = calloc(1, sizeof(cluster_h));
      j->cluster->cluster = c;
      break;
    }
    case J_SHUTDOWN:
      if (!j->cluster->shut) {
        j->cluster->shut = 1;
        rados_shutdown(j->cluster->cluster);
      }
      break;
    case J_OPEN: {
      rados_ioctx_t io;
      snprintf(j->what, sizeof j->what, "cannot open pool %s", j->s1);
      if ((r = rados_ioctx_create(j->cluster->cluster, j->s1, &io)) < 0) break;
      rbd_image_t im;
      snprintf(j->what, sizeof j->what, "cannot open image %s/%s", j->s1, j->s2);
      if ((r = rbd_open(io, j->s2, &im, NULL)) < 0) {
        rados_ioctx_destroy(io);
        break;
      }
      j->image = calloc(1, sizeof(image_h));
      j->image->cluster = j->cluster;
      j->image->io = io;
      j->image->image = im;
      break;
    }
    case J_CLOSE:
      if (j->image->watching) rbd_update_unwatch(j->image->image, j->image->watch_handle);
      j->image->watching = 0;
      rbd_close(j->image->image);
      rados_ioctx_destroy(j->image->io);
      break;
    case J_STAT: {
      snprintf(j->what, sizeof j->what, "cannot read the image's size");
      rbd_image_info_t st;
      if ((r = rbd_stat(j->image->image, &st, sizeof st)) < 0) break;
      j->size = st.size;
      j->obj_size = st.obj_size;
      if ((r = rbd_get_features(j->image->image, &j->features)) < 0) break;
      size_t max = 8;
      rbd_lock_mode_t mode;
      int lr = rbd_lock_get_owners(j->image->image, &mode, j->lock_owners, &max);
      if (lr >= 0) {
        j->lock_mode = mode;
        j->lock_count = (int)max;
      }
      if (j->u1) {
        /* Used bytes, as `rbd du` without fast-diff: allocated objects' extents. */
        r = rbd_diff_iterate2(j->image->image, NULL, 0, st.size, 1, 1, used_cb, j);
        if (r < 0) snprintf(j->what, sizeof j->what, "cannot read the image's allocation");
      }
      break;
    }
    case J_RESIZE:
      snprintf(j->what, sizeof j->what, "cannot resize the image");
      r = rbd_resize(j->image->image, j->u1);
      break;
    case J_EXTENTS:
      snprintf(j->what, sizeof j->what, "cannot read the image's allocated extents");
      r = rbd_diff_iterate2(j->image->image, NULL, j->u1, j->u2, 1, 0, extent_cb, j);
      if (r == -ECANCELED) r = 0;
      break;
    case J_POOLS: {
      snprintf(j->what, sizeof j->what, "cannot list the cluster's pools");
      int need = rados_pool_list(j->cluster->cluster, NULL, 0);
      if (need < 0) {
        r = need;
        break;
      }
      j->list = calloc(1, (size_t)need + 2);
      need = rados_pool_list(j->cluster->cluster, j->list, (size_t)need + 1);
      j->list_len = (size_t)need;
      size_t n = 0;
      for (char *p = j->list; *p; p += strlen(p) + 1) n++;
      j->pool_stats = calloc(n + 1, sizeof(struct rados_pool_stat_t));
      size_t i = 0;
      for (char *p = j->list; *p; p += strlen(p) + 1, i++) {
        rados_ioctx_t io;
        if (rados_ioctx_create(j->cluster->cluster, p, &io) < 0) continue;
        rados_ioctx_pool_stat(io, &j->pool_stats[i]);
        rados_ioctx_destroy(io);
      }
      rados_cluster_stat(j->cluster->cluster, &j->cluster_stat);
      break;
    }
    case J_IMAGES: {
      rados_ioctx_t io;
      snprintf(j->what, sizeof j->what, "cannot open pool %s", j->s1);
      if ((r = rados_ioctx_create(j->cluster->cluster, j->s1, &io)) < 0) break;
      snprintf(j->what, sizeof j->what, "cannot list the images of pool %s", j->s1);
      size_t cap = 64;
      rbd_image_spec_t *specs = NULL;
      for (;;) {
        free(specs);
        specs = calloc(cap, sizeof *specs);
        size_t n = cap;
        r = rbd_list2(io, specs, &n);
        if (r == -ERANGE) {
          cap = n + 1;
          continue;
        }
        if (r >= 0) {
          /* NUL-separated names, as names_array() reads them. */
          size_t total = 1;
          for (size_t i = 0; i < n; i++) total += strlen(specs[i].name) + 1;
          free(j->list);
          j->list = calloc(1, total);
          char *p = j->list;
          for (size_t i = 0; i < n; i++) p = stpcpy(p, specs[i].name) + 1;
          j->list_len = total - 1;
          rbd_image_spec_list_cleanup(specs, n);
        }
        break;
      }
      free(specs);
      rados_ioctx_destroy(io);
      break;
    }
    case J_CREATE: {
      rados_ioctx_t io;
      snprintf(j->what, sizeof j->what, "cannot open pool %s", j->s1);
      if ((r = rados_ioctx_create(j->cluster->cluster, j->s1, &io)) < 0) break;
      snprintf(j->what, sizeof j->what, "cannot create image %s/%s", j->s1, j->s2);
      int order = 0;
      r = rbd_create2(io, j->s2, j->u1, j->u2, &order);
      rados_ioctx_destroy(io);
      break;
    }
    case J_REMOVE: {
      rados_ioctx_t io;
      snprintf(j->what, sizeof j->what, "cannot open pool %s", j->s1);
      if ((r = rados_ioctx_create(j->cluster->cluster, j->s1, &io)) < 0) break;
      snprintf(j->what, sizeof j->what, "cannot remove image %s/%s", j->s1, j->s2);
      r = rbd_remove(io, j->s2);
      rados_ioctx_destroy(io);
      break;
    }
    case J_MON_COMMAND: {
      const char *cmd[1] = {j->s1};
      char *outs = NULL;
      size_t outs_len = 0;
      snprintf(j->what, sizeof j->what, "Ceph monitor command failed");
      r = rados_mon_command(j->cluster->cluster, cmd, 1, "", 0, &j->out, &j->out_len, &outs, &outs_len);
      if (outs) rados_buffer_free(outs);
      break;
    }
  }
  j->err = r < 0 ? r : 0;
}

static napi_value str_or_null(napi_env env, const char *s) {
  napi_value v;
  if (s) napi_create_string_utf8(env, s, NAPI_AUTO_LENGTH, &v);
  else napi_get_null(env, &v);
  return v;
}

static void set_num(napi_env env, napi_value obj, const char *key, double n) {
  napi_value v;
  napi_create_double(env, n, &v);
  napi_set_named_property(env, obj, key, v);
}

static void free_cluster(napi_env env, void *data, void *hint) {
  (void)env;
  (void)hint;
  /* The JS side shuts clusters down explicitly; an unreferenced live one is left to process exit. */
  cluster_h *c = (cluster_h *)data;
  if (c->shut) free(c);
}

static void free_image(napi_env env, void *data, void *hint) {
  (void)env;
  (void)hint;
  image_h *i = (image_h *)data;
  if (i->closed) free(i);
}

static napi_value names_array(napi_env env, const char *list, size_t len) {
  napi_value arr, v;
  napi_create_array(env, &arr);
  uint32_t n = 0;
  for (const char *p = list; p && p < list + len && *p; p += strlen(p) + 1) {
    napi_create_string_utf8(env, p, NAPI_AUTO_LENGTH, &v);
    napi_set_element(env, arr, n++, v);
  }
  return arr;
}

static void job_complete(napi_env env, napi_status status, void *data) {
  job *j = (job *)data;
  napi_value out;
  if (status != napi_ok) {
    napi_reject_deferred(env, j->deferred, make_error(env, "rbd async work failed", EIO));
  } else if (j->err) {
    napi_value e = make_error(env, j->what, j->err);
    if (j->mon_host[0]) napi_set_named_property(env, e, "monHost", str_or_null(env, j->mon_host));
    napi_reject_deferred(env, j->deferred, e);
  } else {
    switch (j->op) {
      case J_CONNECT:
        napi_create_external(env, j->cluster, free_cluster, NULL, &out);
        break;
      case J_OPEN:
        napi_create_external(env, j->image, free_image, NULL, &out);
        break;
      case J_STAT: {
        napi_create_object(env, &out);
        set_num(env, out, "size", (double)j->size);
        set_num(env, out, "features", (double)j->features);
        set_num(env, out, "objectSize", (double)j->obj_size);
        if (j->u1) set_num(env, out, "used", (double)j->used);
        napi_value owners, v;
        napi_create_array(env, &owners);
        for (int i = 0; i < j->lock_count; i++) {
          napi_create_string_utf8(env, j->lock_owners[i], NAPI_AUTO_LENGTH, &v);
          napi_set_element(env, owners, (uint32_t)i, v);
        }
        napi_set_named_property(env, out, "lockOwners", owners);
        break;
      }
      case J_EXTENTS: {
        napi_create_array(env, &out);
        for (size_t i = 0; i < j->n_extents; i++) {
          napi_value e;
          napi_create_object(env, &e);
          set_num(env, e, "offset", (double)j->extents[i].off);
          set_num(env, e, "length", (double)j->extents[i].len);
          napi_value b;
          napi_get_boolean(env, j->extents[i].exists != 0, &b);
          napi_set_named_property(env, e, "exists", b);
          napi_set_element(env, out, (uint32_t)i, e);
        }
        break;
      }
      case J_POOLS: {
        napi_create_object(env, &out);
        napi_value pools;
        napi_create_array(env, &pools);
        uint32_t i = 0;
        for (char *p = j->list; p && *p; p += strlen(p) + 1, i++) {
          napi_value o;
          napi_create_object(env, &o);
          napi_set_named_property(env, o, "name", str_or_null(env, p));
          set_num(env, o, "usedBytes", (double)j->pool_stats[i].num_bytes);
          set_num(env, o, "objects", (double)j->pool_stats[i].num_objects);
          napi_set_element(env, pools, i, o);
        }
        napi_set_named_property(env, out, "pools", pools);
        set_num(env, out, "clusterKb", (double)j->cluster_stat.kb);
        set_num(env, out, "clusterKbUsed", (double)j->cluster_stat.kb_used);
        set_num(env, out, "clusterKbAvail", (double)j->cluster_stat.kb_avail);
        break;
      }
      case J_IMAGES:
        out = names_array(env, j->list, j->list_len);
        break;
      case J_MON_COMMAND:
        napi_create_string_utf8(env, j->out ? j->out : "", j->out_len, &out);
        break;
      case J_CLOSE:
        j->image->closed = 1;
        if (j->image->on_update) napi_release_threadsafe_function(j->image->on_update, napi_tsfn_abort);
        j->image->on_update = NULL;
        napi_get_undefined(env, &out);
        break;
      default:
        napi_get_undefined(env, &out);
    }
    napi_resolve_deferred(env, j->deferred, out);
  }
  napi_delete_async_work(env, j->work);
  free(j->s1);
  free(j->s2);
  free(j->s3);
  for (char **o = j->opts; o && *o; o++) free(*o);
  free(j->opts);
  free(j->extents);
  free(j->list);
  free(j->pool_stats);
  if (j->out) rados_buffer_free(j->out);
  if (j->lock_count > 0) rbd_lock_get_owners_cleanup(j->lock_owners, (size_t)j->lock_count);
  free(j);
}

static napi_value queue_job(napi_env env, job *j) {
  napi_value promise, name;
  napi_create_promise(env, &j->deferred, &promise);
  napi_create_string_utf8(env, "rbd", NAPI_AUTO_LENGTH, &name);
  napi_create_async_work(env, NULL, name, job_execute, job_complete, j, &j->work);
  napi_queue_async_work(env, j->work);
  return promise;
}

#define ARGS(n)                                      \
  size_t argc = n;                                   \
  napi_value argv[n];                                \
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL)

/* connect(confPath, clientId, [[key, value]...]) -> Promise<cluster> */
static napi_value js_connect(napi_env env, napi_callback_info info) {
  ARGS(3);
  if (argc < 3) {
    napi_throw_type_error(env, NULL, "connect(conf, clientId, options) expects three arguments");
    return NULL;
  }
  job *j = calloc(1, sizeof *j);
  j->op = J_CONNECT;
  j->s1 = get_str(env, argv[0]);
  j->s2 = get_str(env, argv[1]);
  uint32_t n = 0;
  napi_get_array_length(env, argv[2], &n);
  j->opts = calloc(2 * n + 1, sizeof(char *));
  for (uint32_t i = 0; i < n; i++) {
    napi_value pair, k, v;
    napi_get_element(env, argv[2], i, &pair);
    napi_get_element(env, pair, 0, &k);
    napi_get_element(env, pair, 1, &v);
    j->opts[2 * i] = get_str(env, k);
    j->opts[2 * i + 1] = get_str(env, v);
  }
  if (!j->s1 || !j->s2) {
    free(j->s1);
    free(j->s2);
    free(j->opts);
    free(j);
    napi_throw_type_error(env, NULL, "connect: conf and clientId must be strings");
    return NULL;
  }
  return queue_job(env, j);
}

static job *cluster_job(napi_env env, napi_value v, enum job_op op) {
  cluster_h *c = get_external(env, v);
  if (!c || c->shut) {
    napi_throw_error(env, "ECLOSED", "Ceph cluster connection is closed");
    return NULL;
  }
  job *j = calloc(1, sizeof *j);
  j->op = op;
  j->cluster = c;
  return j;
}

static job *image_job(napi_env env, napi_value v, enum job_op op) {
  image_h *i = get_external(env, v);
  if (!i || i->closed) {
    napi_throw_error(env, "ECLOSED", "rbd image is closed");
    return NULL;
  }
  job *j = calloc(1, sizeof *j);
  j->op = op;
  j->image = i;
  return j;
}

static napi_value js_shutdown(napi_env env, napi_callback_info info) {
  ARGS(1);
  cluster_h *c = argc ? get_external(env, argv[0]) : NULL;
  if (!c || c->shut) {
    napi_value u;
    napi_get_undefined(env, &u);
    napi_value p;
    napi_deferred d;
    napi_create_promise(env, &d, &p);
    napi_resolve_deferred(env, d, u);
    return p;
  }
  job *j = cluster_job(env, argv[0], J_SHUTDOWN);
  return j ? queue_job(env, j) : NULL;
}

/* open(cluster, pool, image) -> Promise<image> */
static napi_value js_open(napi_env env, napi_callback_info info) {
  ARGS(3);
  if (argc < 3) {
    napi_throw_type_error(env, NULL, "open(cluster, pool, image)");
    return NULL;
  }
  job *j = cluster_job(env, argv[0], J_OPEN);
  if (!j) return NULL;
  j->s1 = get_str(env, argv[1]);
  j->s2 = get_str(env, argv[2]);
  return queue_job(env, j);
}

static napi_value js_close(napi_env env, napi_callback_info info) {
  ARGS(1);
  job *j = argc ? image_job(env, argv[0], J_CLOSE) : NULL;
  return j ? queue_job(env, j) : NULL;
}

/* stat(image, withUsed) -> Promise<{size, features, objectSize, lockOwners, used?}> */
static napi_value js_stat(napi_env env, napi_callback_info info) {
  ARGS(2);
  job *j = argc ? image_job(env, argv[0], J_STAT) : NULL;
  if (!j) return NULL;
  bool used = false;
  if (argc >= 2) napi_get_value_bool(env, argv[1], &used);
  j->u1 = used ? 1 : 0;
  return queue_job(env, j);
}

static napi_value js_resize(napi_env env, napi_callback_info info) {
  ARGS(2);
  job *j = argc >= 2 ? image_job(env, argv[0], J_RESIZE) : NULL;
  if (!j) return NULL;
  get_u64(env, argv[1], &j->u1);
  return queue_job(env, j);
}

/* extents(image, offset, length) -> Promise<{offset, length, exists}[]> (rbd_diff_iterate2 from the beginning of time) */
static napi_value js_extents(napi_env env, napi_callback_info info) {
  ARGS(3);
  job *j = argc >= 3 ? image_job(env, argv[0], J_EXTENTS) : NULL;
  if (!j) return NULL;
  get_u64(env, argv[1], &j->u1);
  get_u64(env, argv[2], &j->u2);
  return queue_job(env, j);
}

static napi_value js_pools(napi_env env, napi_callback_info info) {
  ARGS(1);
  job *j = argc ? cluster_job(env, argv[0], J_POOLS) : NULL;
  return j ? queue_job(env, j) : NULL;
}

static napi_value js_images(napi_env env, napi_callback_info info) {
  ARGS(2);
  job *j = argc >= 2 ? cluster_job(env, argv[0], J_IMAGES) : NULL;
  if (!j) return NULL;
  j->s1 = get_str(env, argv[1]);
  return queue_job(env, j);
}

/* create(cluster, pool, image, size, features) */
static napi_value js_create(napi_env env, napi_callback_info info) {
  ARGS(5);
  job *j = argc >= 5 ? cluster_job(env, argv[0], J_CREATE) : NULL;
  if (!j) return NULL;
  j->s1 = get_str(env, argv[1]);
  j->s2 = get_str(env, argv[2]);
  get_u64(env, argv[3], &j->u1);
  get_u64(env, argv[4], &j->u2);
  return queue_job(env, j);
}

static napi_value js_remove(napi_env env, napi_callback_info info) {
  ARGS(3);
  job *j = argc >= 3 ? cluster_job(env, argv[0], J_REMOVE) : NULL;
  if (!j) return NULL;
  j->s1 = get_str(env, argv[1]);
  j->s2 = get_str(env, argv[2]);
  return queue_job(env, j);
}

/* monCommand(cluster, json) -> Promise<string> (e.g. {"prefix":"health","format":"json"}) */
static napi_value js_mon_command(napi_env env, napi_callback_info info) {
  ARGS(2);
  job *j = argc >= 2 ? cluster_job(env, argv[0], J_MON_COMMAND) : NULL;
  if (!j) return NULL;
  j->s1 = get_str(env, argv[1]);
  return queue_job(env, j);
}

/* ---- header changes (resize behind our back, image removed) -------------- */

static void update_cb(void *arg) {
  image_h *i = (image_h *)arg;
  if (i->on_update) napi_call_threadsafe_function(i->on_update, NULL, napi_tsfn_nonblocking);
}

/* watch(image, callback): callback() on the event loop whenever librbd sees the header change. */
static napi_value js_watch(napi_env env, napi_callback_info info) {
  ARGS(2);
  image_h *i = argc >= 2 ? get_external(env, argv[0]) : NULL;
  if (!i || i->closed || i->watching) {
    napi_throw_error(env, NULL, "watch(image, callback): image closed or already watched");
    return NULL;
  }
  napi_value name;
  napi_create_string_utf8(env, "rbd update watch", NAPI_AUTO_LENGTH, &name);
  if (napi_create_threadsafe_function(env, argv[1], NULL, name, 0, 1, NULL, NULL, NULL, NULL, &i->on_update) != napi_ok) {
    napi_throw_error(env, NULL, "cannot create the rbd watch callback");
    return NULL;
  }
  napi_unref_threadsafe_function(env, i->on_update);
  int r = rbd_update_watch(i->image, &i->watch_handle, update_cb, i);
  if (r < 0) {
    napi_release_threadsafe_function(i->on_update, napi_tsfn_abort);
    i->on_update = NULL;
    napi_throw(env, make_error(env, "cannot watch the image header", r));
    return NULL;
  }
  i->watching = 1;
  napi_value u;
  napi_get_undefined(env, &u);
  return u;
}

/* ---- ownership: the image's exclusive lock and fencing (server/cluster/ownership.ts) ----
 *
 * A gateway that owns an LU takes the image's exclusive lock in managed mode
 * (rbd_lock_acquire: librbd then refuses to hand it to anyone who asks), breaks a dead
 * owner's lock (rbd_lock_break, which blocklists the holder's address as
 * rbd_blocklist_on_break_lock says) and blocklists the dead owner's client address
 * itself (rados_blocklist_add), so that a paused owner that wakes up gets ESHUTDOWN on its
 * next write instead of landing it. These calls block on the cluster: async work, kept
 * apart from the data path and from the control jobs above.
 */

enum lock_op { L_ACQUIRE, L_RELEASE, L_OWNERS, L_BREAK, L_BLOCKLIST, L_ADDRESS, L_IS_OWNER };

typedef struct {
  enum lock_op op;
  napi_deferred deferred;
  napi_async_work work;
  image_h *image;
  cluster_h *cluster;
  char *arg;        /* break: the owner; blocklist: the address */
  uint32_t expire;  /* blocklist: seconds */
  int err;
  char what[160];
  int mode, count, is_owner;
  char *owners[8];
  char *addrs;
} lock_job;

static void lock_execute(napi_env env, void *data) {
  (void)env;
  lock_job *j = (lock_job *)data;
  int r = 0;
  switch (j->op) {
    case L_ACQUIRE:
      snprintf(j->what, sizeof j->what, "cannot take the image's exclusive lock");
      r = rbd_lock_acquire(j->image->image, RBD_LOCK_MODE_EXCLUSIVE);
      break;
    case L_RELEASE:
      snprintf(j->what, sizeof j->what, "cannot release the image's exclusive lock");
      r = rbd_lock_release(j->image->image);
      break;
    case L_OWNERS: {
      snprintf(j->what, sizeof j->what, "cannot read the image's lock owners");
      size_t max = 8;
      rbd_lock_mode_t mode = RBD_LOCK_MODE_EXCLUSIVE;
      r = rbd_lock_get_owners(j->image->image, &mode, j->owners, &max);
      if (r == -ENOENT) r = 0; /* nobody holds it */
      else if (r >= 0) {
        j->mode = mode;
        j->count = (int)max;
      }
      break;
    }
    case L_BREAK:
      snprintf(j->what, sizeof j->what, "cannot break the image's lock held by %s", j->arg);
      r = rbd_lock_break(j->image->image, RBD_LOCK_MODE_EXCLUSIVE, j->arg);
      break;
    case L_BLOCKLIST:
      snprintf(j->what, sizeof j->what, "cannot blocklist %s", j->arg);
      r = rados_blocklist_add(j->cluster->cluster, j->arg, j->expire);
      break;
    case L_ADDRESS:
      snprintf(j->what, sizeof j->what, "cannot read this client's address");
      r = rados_getaddrs(j->cluster->cluster, &j->addrs);
      break;
    case L_IS_OWNER:
      snprintf(j->what, sizeof j->what, "cannot read whether this client holds the lock");
      r = rbd_is_exclusive_lock_owner(j->image->image, &j->is_owner);
      break;
  }
  j->err = r < 0 ? r : 0;
}

static void lock_complete(napi_env env, napi_status status, void *data) {
  lock_job *j = (lock_job *)data;
  napi_value out;
  if (status != napi_ok) {
    napi_reject_deferred(env, j->deferred, make_error(env, "rbd lock work failed", EIO));
  } else if (j->err) {
    napi_reject_deferred(env, j->deferred, make_error(env, j->what, j->err));
  } else {
    switch (j->op) {
      case L_OWNERS: {
        napi_value owners, v;
        napi_create_object(env, &out);
        napi_create_array(env, &owners);
        for (int i = 0; i < j->count; i++) {
          napi_create_string_utf8(env, j->owners[i], NAPI_AUTO_LENGTH, &v);
          napi_set_element(env, owners, (uint32_t)i, v);
        }
        napi_set_named_property(env, out, "owners", owners);
        napi_set_named_property(env, out, "mode", str_or_null(env, j->count ? (j->mode == RBD_LOCK_MODE_SHARED ? "shared" : "exclusive") : NULL));
        break;
      }
      case L_ADDRESS:
        out = str_or_null(env, j->addrs);
        break;
      case L_IS_OWNER:
        napi_get_boolean(env, j->is_owner != 0, &out);
        break;
      default:
        napi_get_undefined(env, &out);
    }
    napi_resolve_deferred(env, j->deferred, out);
  }
  napi_delete_async_work(env, j->work);
  if (j->count > 0) rbd_lock_get_owners_cleanup(j->owners, (size_t)j->count);
  if (j->addrs) rados_buffer_free(j->addrs);
  free(j->arg);
  free(j);
}

static napi_value queue_lock_job(napi_env env, lock_job *j) {
  napi_value promise, name;
  napi_create_promise(env, &j->deferred, &promise);
  napi_create_string_utf8(env, "rbd lock", NAPI_AUTO_LENGTH, &name);
  napi_create_async_work(env, NULL, name, lock_execute, lock_complete, j, &j->work);
  napi_queue_async_work(env, j->work);
  return promise;
}

/* Image lock calls: lockAcquire(image), lockRelease(image), lockOwners(image), lockBreak(image, owner), isLockOwner(image). */
static napi_value image_lock_call(napi_env env, napi_callback_info info, enum lock_op op) {
  ARGS(2);
  image_h *i = argc >= 1 ? get_external(env, argv[0]) : NULL;
  if (!i || i->closed) {
    napi_throw_error(env, "ECLOSED", "rbd image is closed");
    return NULL;
  }
  lock_job *j = calloc(1, sizeof *j);
  j->op = op;
  j->image = i;
  if (op == L_BREAK) {
    j->arg = argc >= 2 ? get_str(env, argv[1]) : NULL;
    if (!j->arg) {
      free(j);
      napi_throw_type_error(env, NULL, "lockBreak(image, owner): owner must be a string");
      return NULL;
    }
  }
  return queue_lock_job(env, j);
}

static napi_value js_lock_acquire(napi_env env, napi_callback_info info) { return image_lock_call(env, info, L_ACQUIRE); }
static napi_value js_lock_release(napi_env env, napi_callback_info info) { return image_lock_call(env, info, L_RELEASE); }
static napi_value js_lock_owners(napi_env env, napi_callback_info info) { return image_lock_call(env, info, L_OWNERS); }
static napi_value js_lock_break(napi_env env, napi_callback_info info) { return image_lock_call(env, info, L_BREAK); }
static napi_value js_is_lock_owner(napi_env env, napi_callback_info info) { return image_lock_call(env, info, L_IS_OWNER); }

/* Cluster calls: blocklistAdd(cluster, address, expireSeconds), clientAddress(cluster). */
static napi_value cluster_lock_call(napi_env env, napi_callback_info info, enum lock_op op) {
  ARGS(3);
  cluster_h *c = argc >= 1 ? get_external(env, argv[0]) : NULL;
  if (!c || c->shut) {
    napi_throw_error(env, "ECLOSED", "Ceph cluster connection is closed");
    return NULL;
  }
  lock_job *j = calloc(1, sizeof *j);
  j->op = op;
  j->cluster = c;
  if (op == L_BLOCKLIST) {
    uint64_t expire = 0;
    j->arg = argc >= 2 ? get_str(env, argv[1]) : NULL;
    if (!j->arg || argc < 3 || !get_u64(env, argv[2], &expire)) {
      free(j->arg);
      free(j);
      napi_throw_type_error(env, NULL, "blocklistAdd(cluster, address, expireSeconds)");
      return NULL;
    }
    j->expire = (uint32_t)expire;
  }
  return queue_lock_job(env, j);
}

static napi_value js_blocklist_add(napi_env env, napi_callback_info info) { return cluster_lock_call(env, info, L_BLOCKLIST); }
static napi_value js_client_address(napi_env env, napi_callback_info info) { return cluster_lock_call(env, info, L_ADDRESS); }

static napi_value init(napi_env env, napi_value exports) {
  napi_property_descriptor props[] = {
    {"setup", NULL, js_setup, NULL, NULL, NULL, napi_default, NULL},
    {"submit", NULL, js_submit, NULL, NULL, NULL, napi_default, NULL},
    {"errorOf", NULL, js_error_of, NULL, NULL, NULL, napi_default, NULL},
    {"releaseRead", NULL, js_release_read, NULL, NULL, NULL, napi_default, NULL},
    {"stats", NULL, js_stats, NULL, NULL, NULL, napi_default, NULL},
    {"connect", NULL, js_connect, NULL, NULL, NULL, napi_default, NULL},
    {"shutdown", NULL, js_shutdown, NULL, NULL, NULL, napi_default, NULL},
    {"open", NULL, js_open, NULL, NULL, NULL, napi_default, NULL},
    {"close", NULL, js_close, NULL, NULL, NULL, napi_default, NULL},
    {"stat", NULL, js_stat, NULL, NULL, NULL, napi_default, NULL},
    {"resize", NULL, js_resize, NULL, NULL, NULL, napi_default, NULL},
    {"extents", NULL, js_extents, NULL, NULL, NULL, napi_default, NULL},
    {"pools", NULL, js_pools, NULL, NULL, NULL, napi_default, NULL},
    {"images", NULL, js_images, NULL, NULL, NULL, napi_default, NULL},
    {"create", NULL, js_create, NULL, NULL, NULL, napi_default, NULL},
    {"remove", NULL, js_remove, NULL, NULL, NULL, napi_default, NULL},
    {"monCommand", NULL, js_mon_command, NULL, NULL, NULL, napi_default, NULL},
    {"watch", NULL, js_watch, NULL, NULL, NULL, napi_default, NULL},
    {"lockAcquire", NULL, js_lock_acquire, NULL, NULL, NULL, napi_default, NULL},
    {"lockRelease", NULL, js_lock_release, NULL, NULL, NULL, napi_default, NULL},
    {"lockOwners", NULL, js_lock_owners, NULL, NULL, NULL, napi_default, NULL},
    {"lockBreak", NULL, js_lock_break, NULL, NULL, NULL, napi_default, NULL},
    {"isLockOwner", NULL, js_is_lock_owner, NULL, NULL, NULL, napi_default, NULL},
    {"blocklistAdd", NULL, js_blocklist_add, NULL, NULL, NULL, napi_default, NULL},
    {"clientAddress", NULL, js_client_address, NULL, NULL, NULL, napi_default, NULL},
  };
  napi_define_properties(env, exports, sizeof props / sizeof props[0], props);
  return exports;
}

NAPI_MODULE(NODE_GYP_MODULE_NAME, init)
