/*
 * Portico's native helpers for the fileio/block backstores, things Node's fs
 * cannot do:
 *   punchHole(fd, offset, length) -> Promise<void>
 *       fallocate(FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE) on a worker thread:
 *       real space reclaim for UNMAP / WRITE SAME with UNMAP (SBC-3 §4.7).
 *   seekData(fd, offset) / seekHole(fd, offset) -> number (-1 when ENXIO)
 *       lseek(SEEK_DATA / SEEK_HOLE), for GET LBA STATUS.
 *   pollHold(us) / pollSpins() -> number
 *       keeps the event loop from sleeping for the next `us` microseconds (the iSCSI
 *       poll window, server/engine/iscsi/poll-window.ts): an idle handle is active until
 *       the deadline, so libuv polls epoll with a zero timeout instead of blocking; the
 *       loop still runs every callback as usual (nothing is spun inside a callback), and
 *       each empty turn calls sched_yield(). pollSpins() counts those turns (tests, figures).
 * Built with node-gyp (npm_config_nodedir=/usr); the TypeScript side falls back
 * to writing zeros when the addon is absent.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <sys/resource.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <linux/falloc.h>
#include <node_api.h>
#include <uv.h>

typedef struct {
  int fd;
  int64_t offset;
  int64_t length;
  int err;
  napi_deferred deferred;
  napi_async_work work;
} punch_req;

static void punch_execute(napi_env env, void *data) {
  punch_req *r = (punch_req *)data;
  (void)env;
  r->err = 0;
  if (fallocate(r->fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, (off_t)r->offset, (off_t)r->length) != 0) r->err = errno;
}

static void punch_complete(napi_env env, napi_status status, void *data) {
  punch_req *r = (punch_req *)data;
  napi_value result;
  if (status != napi_ok || r->err != 0) {
    napi_value msg, code, err;
    const char *text = r->err ? strerror(r->err) : "async work failed";
    napi_create_string_utf8(env, text, NAPI_AUTO_LENGTH, &msg);
    napi_create_string_utf8(env, r->err == EOPNOTSUPP ? "EOPNOTSUPP" : "EIO", NAPI_AUTO_LENGTH, &code);
    napi_create_error(env, code, msg, &err);
    napi_value errnoValue;
    napi_create_int32(env, r->err, &errnoValue);
    napi_set_named_property(env, err, "errno", errnoValue);
    napi_reject_deferred(env, r->deferred, err);
  } else {
    napi_get_undefined(env, &result);
    napi_resolve_deferred(env, r->deferred, result);
  }
  napi_delete_async_work(env, r->work);
  free(r);
}

static int get_i64(napi_env env, napi_value v, int64_t *out) {
  double d;
  if (napi_get_value_double(env, v, &d) != napi_ok) return 0;
  *out = (int64_t)d;
  return 1;
}

static napi_value punch_hole(napi_env env, napi_callback_info info) {
  size_t argc = 3;
  napi_value argv[3], promise, name;
  int32_t fd;
  int64_t off, len;
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  if (argc < 3 || napi_get_value_int32(env, argv[0], &fd) != napi_ok || !get_i64(env, argv[1], &off) || !get_i64(env, argv[2], &len)) {
    napi_throw_type_error(env, NULL, "punchHole(fd, offset, length) expects three numbers");
    return NULL;
  }
  punch_req *r = (punch_req *)calloc(1, sizeof(*r));
  r->fd = fd;
  r->offset = off;
  r->length = len;
  napi_create_promise(env, &r->deferred, &promise);
  napi_create_string_utf8(env, "punchHole", NAPI_AUTO_LENGTH, &name);
  napi_create_async_work(env, NULL, name, punch_execute, punch_complete, r, &r->work);
  napi_queue_async_work(env, r->work);
  return promise;
}

static napi_value do_seek(napi_env env, napi_callback_info info, int whence) {
  size_t argc = 2;
  napi_value argv[2], out;
  int32_t fd;
  int64_t off;
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  if (argc < 2 || napi_get_value_int32(env, argv[0], &fd) != napi_ok || !get_i64(env, argv[1], &off)) {
    napi_throw_type_error(env, NULL, "seek(fd, offset) expects two numbers");
    return NULL;
  }
  off_t r = lseek(fd, (off_t)off, whence);
  if (r < 0 && errno != ENXIO) {
    napi_throw_error(env, NULL, strerror(errno));
    return NULL;
  }
  napi_create_double(env, r < 0 ? -1.0 : (double)r, &out);
  return out;
}

static napi_value seek_data(napi_env env, napi_callback_info info) { return do_seek(env, info, SEEK_DATA); }
static napi_value seek_hole(napi_env env, napi_callback_info info) { return do_seek(env, info, SEEK_HOLE); }

/*
 * The poll window: one idle handle per Node environment (main thread or worker), on that
 * environment's loop, stopped by its own callback at the deadline. While it is active libuv
 * polls with a zero timeout; each empty turn yields the CPU (a client on the same CPU runs at
 * once instead of waiting for the window to end). When a yield did give the CPU away (the
 * thread's involuntary context switches moved: another task was waiting for this CPU), the
 * window ends there: what that task sent is picked up by this turn's poll, and a busy machine
 * is not made to switch back and forth.
 */
typedef struct {
  uv_idle_t idle;
  uint64_t deadline;
  long nivcsw;
  double spins;
} poll_state;

static long poll_nivcsw(void) {
  struct rusage ru;
  return getrusage(RUSAGE_THREAD, &ru) == 0 ? ru.ru_nivcsw : 0;
}

static void poll_turn(uv_idle_t *h) {
  poll_state *p = (poll_state *)h->data;
  if (uv_hrtime() >= p->deadline) {
    uv_idle_stop(h);
    return;
  }
  p->spins++;
  sched_yield();
  long n = poll_nivcsw();
  if (n != p->nivcsw) uv_idle_stop(h);
}

static void poll_closed(uv_handle_t *h) { free(h->data); }

static void poll_finalize(napi_env env, void *data, void *hint) {
  poll_state *p = (poll_state *)data;
  uv_idle_stop(&p->idle);
  uv_close((uv_handle_t *)&p->idle, poll_closed);
}

static poll_state *poll_get(napi_env env) {
  poll_state *p = NULL;
  if (napi_get_instance_data(env, (void **)&p) == napi_ok && p != NULL) return p;
  uv_loop_t *loop = NULL;
  if (napi_get_uv_event_loop(env, &loop) != napi_ok || loop == NULL) return NULL;
  p = calloc(1, sizeof *p);
  if (p == NULL) return NULL;
  uv_idle_init(loop, &p->idle);
  p->idle.data = p;
  /* Never what keeps the process alive: the idle handle only changes how the loop waits. */
  uv_unref((uv_handle_t *)&p->idle);
  napi_set_instance_data(env, p, poll_finalize, NULL);
  return p;
}

static napi_value poll_hold(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  double us = 0;
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  if (argc < 1 || napi_get_value_double(env, argv[0], &us) != napi_ok || !(us > 0)) return NULL;
  poll_state *p = poll_get(env);
  if (p == NULL) return NULL;
  uint64_t until = uv_hrtime() + (uint64_t)(us * 1000.0);
  if (until > p->deadline) p->deadline = until;
  if (!uv_is_active((uv_handle_t *)&p->idle)) {
    p->nivcsw = poll_nivcsw();
    uv_idle_start(&p->idle, poll_turn);
  }
  return NULL;
}

static napi_value poll_spins_get(napi_env env, napi_callback_info info) {
  poll_state *p = NULL;
  napi_value out;
  napi_get_instance_data(env, (void **)&p);
  napi_create_double(env, p ? p->spins : 0, &out);
  return out;
}

static napi_value init(napi_env env, napi_value exports) {
  napi_property_descriptor props[] = {
    {"punchHole", NULL, punch_hole, NULL, NULL, NULL, napi_default, NULL},
    {"seekData", NULL, seek_data, NULL, NULL, NULL, napi_default, NULL},
    {"seekHole", NULL, seek_hole, NULL, NULL, NULL, napi_default, NULL},
    {"pollHold", NULL, poll_hold, NULL, NULL, NULL, napi_default, NULL},
    {"pollSpins", NULL, poll_spins_get, NULL, NULL, NULL, napi_default, NULL},
  };
  napi_define_properties(env, exports, 5, props);
  return exports;
}

NAPI_MODULE(NODE_GYP_MODULE_NAME, init)
