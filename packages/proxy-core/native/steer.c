/*
 * Where the kernel puts a pool's new connections. The workers of a pool each listen on a socket
 * of their own with SO_REUSEPORT, and by default the kernel spreads new connections over them by
 * a hash of their addresses. A classic BPF program on the group (SO_ATTACH_REUSEPORT_CBPF, Linux
 * 4.5) returns the index of the socket to take a connection instead: `pack` returns 0, so one
 * worker takes every new connection; `spread` returns an index past the last socket, which the
 * kernel answers with its hash, as if no program were there. A connection already in a worker's
 * accept queue stays there: steering only ever decides where the next one goes.
 */
#define NAPI_VERSION 8
#include <errno.h>
#include <linux/filter.h>
#include <node_api.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>

static napi_value steer(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value args[2];
  napi_get_cb_info(env, info, &argc, args, NULL, NULL);
  int32_t fd = -1;
  bool pack = false;
  if (argc < 2 || napi_get_value_int32(env, args[0], &fd) != napi_ok || fd < 0 ||
      napi_get_value_bool(env, args[1], &pack) != napi_ok) {
    napi_throw_type_error(env, NULL, "steer(fd, pack)");
    return NULL;
  }
  struct sock_filter code[] = {BPF_STMT(BPF_RET | BPF_K, pack ? 0 : 0xffffffffu)};
  struct sock_fprog program = {.len = 1, .filter = code};
  if (setsockopt(fd, SOL_SOCKET, SO_ATTACH_REUSEPORT_CBPF, &program, sizeof program) != 0) {
    char message[160];
    snprintf(message, sizeof message, "SO_ATTACH_REUSEPORT_CBPF: %s", strerror(errno));
    napi_throw_error(env, NULL, message);
  }
  return NULL;
}

NAPI_MODULE_INIT() {
  napi_value fn;
  napi_create_function(env, "steer", NAPI_AUTO_LENGTH, steer, NULL, &fn);
  napi_set_named_property(env, exports, "steer", fn);
  return exports;
}
