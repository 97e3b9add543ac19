/*
 * The HTTP server: libmicrohttpd with an epoll thread pool, translating each
 * connection's request into a plain struct http_request and the handler's
 * struct http_reply into a response (files go out with sendfile). The one
 * file in the daemon that includes microhttpd.h.
 */
#ifndef OTAD_HTTP_SERVER_H
#define OTAD_HTTP_SERVER_H

#include <stdint.h>

#include "core/config.h"
#include "core/listen_fds.h"
#include "service/service.h"

struct http_server;

struct notify;
struct sources;

/*
 * Starts serving CONFIG->listen (plain HTTP, unless "off") and
 * CONFIG->listen_tls (HTTPS, when set) with SVC, SOURCES and NOTIFY (all
 * borrowed; they must outlive the server; SOURCES may be NULL: webhooks then
 * get 503; NOTIFY may be NULL: the notification routes then get 503).
 * ACTIVATED (borrowed, may be NULL) holds the sockets the service manager
 * passed (socket activation): the one named "tls" serves HTTPS, the first
 * other one plain HTTP, each instead of binding listen / listen_tls, and
 * they are taken even when that setting is off (the unit asked for them).
 * Returns 0 with a new server, or -errno after logging why (-EINVAL: an
 * address does not parse, or neither listener is on; -EADDRINUSE; the
 * certificate errors of tls_server_new ...; -EBADF: a passed socket is no
 * listening stream socket).
 */
int http_server_start(const struct config *config, struct service *svc, struct sources *sources,
                      struct notify *notify, const struct listen_fds *activated,
                      struct http_server **ret_server);

/* Whether the plain (TLS false) or HTTPS listener serves a socket the service manager passed. */
bool http_server_activated(const struct http_server *server, bool tls);

/*
 * Proves the serving loop answers: connects to SERVER's own listener (the
 * plain one, else the HTTPS one; a wildcard address through loopback),
 * sends "GET /healthz" and waits up to TIMEOUT_MS for a worker thread's
 * answer (a 200 status line; on HTTPS, the worker's refusal of the plain
 * bytes). Blocking; for the supervisor's thread. Returns 0, or -ETIMEDOUT
 * (no worker answered), -EPROTO (not a 200), -errno of the socket calls.
 * The probe is a request like any other (counted in /metrics as healthz).
 */
int http_server_probe(const struct http_server *server, unsigned timeout_ms);

/*
 * FOR TESTS ONLY (OTAD_TEST_STALL_SERVING_AFTER_MS, docs/OPERATIONS.md):
 * AFTER_MS from now, every worker thread that takes a request blocks in it
 * until http_server_stop begins, as a handler stuck on a lock would. The
 * supervisor's probe then times out and the watchdog stops being fed.
 */
void http_server_test_stall(struct http_server *server, unsigned after_ms);

/* The TCP port actually bound by the plain listener (useful with port 0); 0 when it is off. */
uint16_t http_server_port(const struct http_server *server);

/* The same for the HTTPS listener; 0 when there is none. */
uint16_t http_server_tls_port(const struct http_server *server);

/*
 * Reloads what can change live: the HTTPS listener's certificates and keys
 * (tls_server_reload: connections in flight keep theirs). Returns 0, or
 * -errno with the old certificates still in use.
 */
int http_server_reload(struct http_server *server);

/*
 * Stops accepting, lets requests in flight finish for up to GRACE_MS, then
 * closes the rest and frees. NULL-safe.
 */
void http_server_stop(struct http_server *server, unsigned grace_ms);

/* The loaded libmicrohttpd's version (MHD_get_version), for `otad --version`. */
const char *http_server_mhd_version(void);

#endif
