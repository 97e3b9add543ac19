/*
 * `otad serve`: opens the service, starts the GitHub release poller, the
 * notification sender and the HTTP server, and waits for SIGTERM or SIGINT. SIGHUP reloads the
 * HTTPS listener's certificates (a certbot deploy hook's `systemctl reload otad`) without closing a
 * connection. Shutdown closes new connections unanswered, gives requests in flight a grace period
 * to finish, stops the poller, commits queued check-ins, stops the notification sender (a delivery
 * in flight is cut off and stays pending) and exits 0.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/resource.h>

#include "cli/cli.h"
#include "cli/commands.h"
#include "cli/subcommands.h"
#include "core/log.h"
#include "http/server.h"
#include "notify/notify.h"
#include "service/service.h"
#include "sources/sources.h"

#define SHUTDOWN_GRACE_MS (SERVE_SHUTDOWN_GRACE_S * 1000u)

/* Every connection is a descriptor: take the hard limit (the held-connection load needs it). */
static void raise_fd_limit(void)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        if (setrlimit(RLIMIT_NOFILE, &rl) < 0)
            log_warn("cannot raise the open-file limit: %s", strerror(errno));
    }
}

/*
 * Prints an address we listen on with the port actually bound
 * ("listening on 127.0.0.1:43817", "listening for HTTPS on ...").
 */
static void announce(const char *what, const char *address, uint16_t port, const char *data_dir)
{
    char host[128];
    snprintf(host, sizeof(host), "%s", address);
    char *colon = strrchr(host, ':');
    if (colon)
        *colon = 0;
    log_info("listening %son %s:%u (data in \"%s\")", what, host[0] ? host : "0.0.0.0", port,
             data_dir);
}

int cli_serve(int argc, char **argv, const struct config *config)
{
    if (argc > 1)
        return cli_usage("serve");
    sigset_t served_signals;
    sigemptyset(&served_signals);
    sigaddset(&served_signals, SIGTERM);
    sigaddset(&served_signals, SIGINT);
    sigaddset(&served_signals, SIGHUP);
    /* Block before any thread starts, so only sigwait below sees them. */
    pthread_sigmask(SIG_BLOCK, &served_signals, NULL);
    signal(SIGPIPE, SIG_IGN);
    raise_fd_limit();

    struct service *svc = NULL;
    struct sources *sources = NULL;
    struct notify *notify = NULL;
    struct http_server *server = NULL;
    int r = service_open(config, SERVICE_SERVING, &svc);
    if (r < 0) {
        log_error("cannot open the data folder \"%s\": %s", config->data_dir, strerror(-r));
        return CLI_EXIT_FAILURE;
    }
    /* The GitHub poller: a caller of the service, started after it, stopped before it. */
    r = sources_open(config, svc, SOURCES_SERVING, &sources);
    if (r < 0) {
        service_close(svc);
        return CLI_EXIT_FAILURE;
    }
    /* Notifications: take the service's events, beside the sources; stopped before it too. */
    r = notify_open(config, svc, NOTIFY_SERVING, &notify);
    if (r < 0) {
        sources_close(sources);
        service_close(svc);
        return CLI_EXIT_FAILURE;
    }
    r = http_server_start(config, svc, sources, notify, &server);
    if (r < 0) {
        notify_close(notify);
        sources_close(sources);
        service_close(svc);
        return CLI_EXIT_FAILURE;
    }
    if (http_server_port(server))
        announce("", config->listen, http_server_port(server), config->data_dir);
    if (http_server_tls_port(server))
        announce("for HTTPS ", config->listen_tls, http_server_tls_port(server), config->data_dir);

    int sig = 0;
    while (sigwait(&served_signals, &sig) == 0 && sig == SIGHUP) {
        if (!http_server_tls_port(server)) {
            log_info("SIGHUP: nothing to reload (no HTTPS listener)");
            continue;
        }
        log_info("SIGHUP: reloading the TLS certificates");
        (void)http_server_reload(server); /* a failure is logged, the old certificates stay */
    }
    log_info("stopping on %s: finishing requests in flight (up to %u ms)",
             sig == SIGTERM ? "SIGTERM" : "SIGINT", SHUTDOWN_GRACE_MS);
    http_server_stop(server, SHUTDOWN_GRACE_MS);
    sources_close(sources);       /* aborts a GitHub transfer in flight */
    service_stop_controller(svc); /* no halt or promotion after the notifications' last events */
    r = service_registry_flush(svc);
    notify_close(
        notify); /* after the last events; cuts off a delivery in flight (it stays pending) */
    service_close(svc);
    log_info("stopped");
    return r < 0 ? CLI_EXIT_FAILURE : CLI_EXIT_OK;
}
