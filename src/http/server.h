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
#include "service/service.h"

struct http_server;

struct notify;
struct sources;

/*
 * Starts serving CONFIG->listen (plain HTTP, unless "off") and
 * CONFIG->listen_tls (HTTPS, when set) with SVC, SOURCES and NOTIFY (all
 * borrowed; they must outlive the server; SOURCES may be NULL: webhooks then
 * get 503; NOTIFY may be NULL: the notification routes then get 503).
 * Returns 0 with a new server, or -errno after logging why (-EINVAL: an
 * address does not parse, or neither listener is on; -EADDRINUSE; the
 * certificate errors of tls_server_new ...).
 */
int http_server_start(const struct config *config, struct service *svc, struct sources *sources,
                      struct notify *notify, struct http_server **ret_server);

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
