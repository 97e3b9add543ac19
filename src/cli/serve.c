/*
 * `otad serve`: opens the service, starts the GitHub release poller, the
 * notification sender and the HTTP server (on the sockets systemd passed,
 * with socket activation), tells systemd about it (cli/supervise.c), and
 * waits for SIGTERM or SIGINT. SIGHUP (`systemctl reload otad`) loads the
 * config file again, applies what can change live (log_level), logs every
 * other changed setting as needing a restart, and reloads the HTTPS
 * listener's certificates without closing a connection. Shutdown closes new
 * connections unanswered, gives requests in flight a grace period to
 * finish, stops the poller, commits queued check-ins, stops the
 * notification sender (a delivery in flight is cut off and stays pending)
 * and exits 0.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "cli/cli.h"
#include "cli/commands.h"
#include "cli/subcommands.h"
#include "cli/supervise.h"
#include "core/listen_fds.h"
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

/* Names the listener's real address when systemd bound it (the setting was not used). */
static void announce_listener(const struct http_server *server, bool tls, const char *setting,
                              uint16_t port, const char *data_dir)
{
    const char *what = tls ? "for HTTPS " : "";
    if (http_server_activated(server, tls))
        log_info("listening %son a socket from the service manager, port %u (data in \"%s\")", what,
                 port, data_dir);
    else
        announce(what, setting, port, data_dir);
}

/* The settings a reload applies; every other change waits for a restart. */
static const char *const live_settings[] = {"log_level"};

static void warn_needs_restart(const char *key, void *ctx)
{
    unsigned *count = ctx;
    for (size_t i = 0; i < sizeof(live_settings) / sizeof(live_settings[0]); i++)
        if (strcmp(key, live_settings[i]) == 0)
            return;
    (*count)++;
    log_warn("reload: %s changed, but takes effect only after a restart (systemctl restart otad)",
             key);
}

/*
 * SIGHUP: the config file again, what is live applied, the rest named, the
 * certificates reloaded. STARTED is the configuration serving began with,
 * RUNNING what is applied now (its log_level follows reloads).
 */
static void reload(struct http_server *server, struct supervisor *sup, const struct config *started,
                   struct config *running)
{
    supervisor_reloading(sup);
    struct config fresh;
    const char *how = "reloaded";
    if (cli_config_reload(&fresh) < 0) {
        log_error("reload: the configuration does not load: the running settings stay");
        how = "reload failed: the configuration does not load, the running settings stay";
    } else {
        if (strcmp(fresh.log_level, running->log_level) != 0) {
            enum log_level level = LOG_LEVEL_INFO;
            enum log_level was = LOG_LEVEL_INFO;
            log_level_parse(running->log_level, &was);
            if (log_level_parse(fresh.log_level, &level) == 0) {
                /* Said at the more verbose of the two levels, so the line is always seen. */
                if (level > was)
                    log_set_level(level);
                log_write(level > was ? level : was, "reload: log_level is now %s (was %s)",
                          fresh.log_level, running->log_level);
                log_set_level(level);
                snprintf(running->log_level, sizeof(running->log_level), "%s", fresh.log_level);
            }
        }
        unsigned restart = 0;
        config_each_change(started, &fresh, warn_needs_restart, &restart);
        if (restart)
            how = "reloaded; some changed settings take effect only after a restart";
    }
    if (!http_server_tls_port(server)) {
        log_info("reload: no HTTPS listener, no certificates to reload");
    } else {
        log_info("reload: reloading the TLS certificates");
        if (http_server_reload(server) < 0) /* logged; the old certificates stay */
            how = "reloaded, but the TLS certificates did not load: the old ones stay";
    }
    supervisor_reloaded(sup, how);
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
    /* Socket activation: the sockets systemd passed, named by FileDescriptorName= (otad.socket). */
    struct listen_fds activated;
    r = listen_fds_parse(config_getenv(config, "LISTEN_FDS"), config_getenv(config, "LISTEN_PID"),
                         config_getenv(config, "LISTEN_FDNAMES"), getpid(), &activated);
    if (r < 0) {
        log_error("socket activation: LISTEN_FDS, LISTEN_PID or LISTEN_FDNAMES does not parse");
        activated.count = 0;
    }
    /*
     * The variables stay (other threads may read the environment now); the
     * descriptors become close-on-exec, and LISTEN_PID names no child.
     */
    r = r < 0 ? r : http_server_start(config, svc, sources, notify, &activated, &server);
    if (r < 0) {
        notify_close(notify);
        sources_close(sources);
        service_close(svc);
        return CLI_EXIT_FAILURE;
    }
    if (http_server_port(server))
        announce_listener(server, false, config->listen, http_server_port(server),
                          config->data_dir);
    if (http_server_tls_port(server))
        announce_listener(server, true, config->listen_tls, http_server_tls_port(server),
                          config->data_dir);

    /* FOR TESTS ONLY (docs/OPERATIONS.md): stall the serving loop to watch the watchdog starve. */
    const char *stall = config_getenv(config, "OTAD_TEST_STALL_SERVING_AFTER_MS");
    if (stall && stall[0]) {
        log_warn("OTAD_TEST_STALL_SERVING_AFTER_MS is set: the server stops answering after %s ms "
                 "(a test's fault, never for production)",
                 stall);
        http_server_test_stall(server, (unsigned)strtoul(stall, NULL, 10));
    }
    struct supervisor *sup = NULL;
    r = supervisor_start(config_getenv(config, "NOTIFY_SOCKET"),
                         config_getenv(config, "WATCHDOG_USEC"),
                         config_getenv(config, "WATCHDOG_PID"), server, svc, &sup);
    (void)r; /* logged: otad serves without telling the manager (it then times the start out) */

    struct config running = *config;
    int sig = 0;
    while (sigwait(&served_signals, &sig) == 0 && sig == SIGHUP)
        reload(server, sup, config, &running);
    log_info("stopping on %s: finishing requests in flight (up to %u ms)",
             sig == SIGTERM ? "SIGTERM" : "SIGINT", SHUTDOWN_GRACE_MS);
    supervisor_stop(sup); /* STOPPING=1, and no probe of a server being stopped */
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
