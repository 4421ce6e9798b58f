/*
 * original_dst: the N-API addon that gives the proxy a redirected connection's original destination.
 * Under iptables interception (`-t nat ... -j REDIRECT`) an accepted socket's local address is the
 * proxy's own listener; the address the app dialled is kept by conntrack and read back with
 * getsockopt(SO_ORIGINAL_DST) (IPv4) or getsockopt(IP6T_SO_ORIGINAL_DST) (IPv6), which Node does not
 * expose. The call needs no capability: it reads the calling socket's own conntrack entry.
 *
 * originalDst(fd) → {address, port, family: "IPv4"|"IPv6"}, or undefined when the kernel has no
 * original destination for the socket (ENOENT: conntrack does not track it, so it was not redirected).
 * Any other failure throws an Error whose `code` is the errno's name (EBADF: not an open fd; ENOTSOCK;
 * ENOPROTOOPT: not TCP, or the kernel lacks the option) and whose `syscall` names the call; a non-number
 * fd throws a TypeError (code ERR_INVALID_ARG_TYPE), a negative or fractional one a RangeError
 * (code ERR_OUT_OF_RANGE). Only node_api.h and libc: built by proxy/native/build.mjs with `cc -shared`.
 */
#define NAPI_VERSION 8
#include <node_api.h>

#include <arpa/inet.h>
#include <errno.h>
#include <limits.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>

/* linux/netfilter_ipv4.h and linux/netfilter_ipv6/ip6_tables.h; spelled here to need no kernel headers. */
#ifndef SO_ORIGINAL_DST
#define SO_ORIGINAL_DST 80
#endif
#ifndef IP6T_SO_ORIGINAL_DST
#define IP6T_SO_ORIGINAL_DST 80
#endif

static const char *errno_name(int err) {
  switch (err) {
    case ENOENT: return "ENOENT";
    case EBADF: return "EBADF";
    case ENOTSOCK: return "ENOTSOCK";
    case ENOPROTOOPT: return "ENOPROTOOPT";
    case EINVAL: return "EINVAL";
    case EAFNOSUPPORT: return "EAFNOSUPPORT";
    case ENOTCONN: return "ENOTCONN";
    case EPERM: return "EPERM";
    case EACCES: return "EACCES";
    case EFAULT: return "EFAULT";
    case ENOMEM: return "ENOMEM";
    default: return "EUNKNOWN";
  }
}

/* Throws Error(message) with .code and .syscall; returns NULL for the caller to return. */
static napi_value throw_errno(napi_env env, int err, const char *syscall, int fd) {
  char message[160];
  snprintf(message, sizeof message, "%s on fd %d: %s (%s)", syscall, fd, strerror(err), errno_name(err));
  napi_value msg, code, call, error;
  if (napi_create_string_utf8(env, message, NAPI_AUTO_LENGTH, &msg) != napi_ok) return NULL;
  if (napi_create_string_utf8(env, errno_name(err), NAPI_AUTO_LENGTH, &code) != napi_ok) return NULL;
  if (napi_create_string_utf8(env, syscall, NAPI_AUTO_LENGTH, &call) != napi_ok) return NULL;
  if (napi_create_error(env, code, msg, &error) != napi_ok) return NULL;
  napi_set_named_property(env, error, "syscall", call);
  napi_throw(env, error);
  return NULL;
}

static napi_value make_result(napi_env env, const char *address, int port, const char *family) {
  napi_value obj, addr, p, fam;
  if (napi_create_object(env, &obj) != napi_ok) return NULL;
  if (napi_create_string_utf8(env, address, NAPI_AUTO_LENGTH, &addr) != napi_ok) return NULL;
  if (napi_create_int32(env, port, &p) != napi_ok) return NULL;
  if (napi_create_string_utf8(env, family, NAPI_AUTO_LENGTH, &fam) != napi_ok) return NULL;
  napi_set_named_property(env, obj, "address", addr);
  napi_set_named_property(env, obj, "port", p);
  napi_set_named_property(env, obj, "family", fam);
  return obj;
}

/* The IPv4 original destination, or undefined on ENOENT. */
static napi_value original_v4(napi_env env, int fd) {
  struct sockaddr_in dst;
  socklen_t len = sizeof dst;
  memset(&dst, 0, sizeof dst);
  if (getsockopt(fd, SOL_IP, SO_ORIGINAL_DST, &dst, &len) != 0) {
    int err = errno;
    if (err == ENOENT) {
      napi_value undefined;
      napi_get_undefined(env, &undefined);
      return undefined;
    }
    return throw_errno(env, err, "getsockopt(SO_ORIGINAL_DST)", fd);
  }
  char text[INET_ADDRSTRLEN];
  if (!inet_ntop(AF_INET, &dst.sin_addr, text, sizeof text)) return throw_errno(env, errno, "inet_ntop", fd);
  return make_result(env, text, ntohs(dst.sin_port), "IPv4");
}

/* The IPv6 original destination, or undefined on ENOENT. */
static napi_value original_v6(napi_env env, int fd) {
  struct sockaddr_in6 dst;
  socklen_t len = sizeof dst;
  memset(&dst, 0, sizeof dst);
  if (getsockopt(fd, SOL_IPV6, IP6T_SO_ORIGINAL_DST, &dst, &len) != 0) {
    int err = errno;
    if (err == ENOENT) {
      napi_value undefined;
      napi_get_undefined(env, &undefined);
      return undefined;
    }
    return throw_errno(env, err, "getsockopt(IP6T_SO_ORIGINAL_DST)", fd);
  }
  char text[INET6_ADDRSTRLEN];
  if (!inet_ntop(AF_INET6, &dst.sin6_addr, text, sizeof text)) return throw_errno(env, errno, "inet_ntop", fd);
  return make_result(env, text, ntohs(dst.sin6_port), "IPv6");
}

static napi_value original_dst(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok) return NULL;
  napi_valuetype type = napi_undefined;
  if (argc >= 1) napi_typeof(env, argv[0], &type);
  if (type != napi_number) {
    napi_throw_type_error(env, "ERR_INVALID_ARG_TYPE", "originalDst(fd): fd must be a number (a socket's file descriptor)");
    return NULL;
  }
  double value = 0;
  napi_get_value_double(env, argv[0], &value);
  if (!(value >= 0 && value <= INT_MAX) || value != (double)(int)value) {
    napi_throw_range_error(env, "ERR_OUT_OF_RANGE", "originalDst(fd): fd must be an integer from 0 to 2147483647");
    return NULL;
  }
  int fd = (int)value;

  /* The socket's own family decides which option to ask for. */
  struct sockaddr_storage local;
  socklen_t len = sizeof local;
  memset(&local, 0, sizeof local);
  if (getsockname(fd, (struct sockaddr *)&local, &len) != 0) return throw_errno(env, errno, "getsockname", fd);
  if (local.ss_family == AF_INET) return original_v4(env, fd);
  if (local.ss_family == AF_INET6) {
    /* A dual-stack listener's IPv4 client: conntrack tracked it as IPv4. */
    if (IN6_IS_ADDR_V4MAPPED(&((struct sockaddr_in6 *)&local)->sin6_addr)) return original_v4(env, fd);
    return original_v6(env, fd);
  }
  return throw_errno(env, EAFNOSUPPORT, "getsockname", fd);
}

NAPI_MODULE_INIT() {
  napi_value fn;
  if (napi_create_function(env, "originalDst", NAPI_AUTO_LENGTH, original_dst, NULL, &fn) != napi_ok) return NULL;
  if (napi_set_named_property(env, exports, "originalDst", fn) != napi_ok) return NULL;
  return exports;
}
