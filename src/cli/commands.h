/*
 * One function per subcommand, dispatched by the table in cli.c. Each gets
 * the arguments after the subcommand name (argv[0] is the subcommand) and
 * the effective configuration, prints its errors to stderr (with the
 * table's synopsis, through cli_usage, when the command line is wrong), its
 * results to stdout, and returns a CLI_EXIT_* status (cli.h).
 */
#ifndef OTAD_CLI_COMMANDS_H
#define OTAD_CLI_COMMANDS_H

#include "core/config.h"

/*
 * Seconds `otad serve` gives requests in flight on SIGTERM (a bare number:
 * the help text and otad(8) spell it from here).
 */
#define SERVE_SHUTDOWN_GRACE_S 5

int cli_serve(int argc, char **argv, const struct config *config);
int cli_config(int argc, char **argv, const struct config *config);
int cli_product(int argc, char **argv, const struct config *config);
int cli_release(int argc, char **argv, const struct config *config);
int cli_token(int argc, char **argv, const struct config *config);
int cli_session(int argc, char **argv, const struct config *config);
int cli_device(int argc, char **argv, const struct config *config);
int cli_key(int argc, char **argv, const struct config *config);       /* cli_key.c */
int cli_sign(int argc, char **argv, const struct config *config);      /* cli_key.c */
int cli_verify(int argc, char **argv, const struct config *config);    /* cli_key.c */
int cli_source(int argc, char **argv, const struct config *config);    /* cli_source.c */
int cli_audit_log(int argc, char **argv, const struct config *config); /* cli_audit.c */
int cli_store(int argc, char **argv, const struct config *config);     /* cli_store.c */
int cli_version(int argc, char **argv, const struct config *config);   /* cli_version.c */
int cli_migrate(int argc, char **argv, const struct config *config);   /* cli_migrate.c */
int cli_backup(int argc, char **argv, const struct config *config);    /* cli_backup.c */
int cli_restore(int argc, char **argv, const struct config *config);   /* cli_backup.c */
int cli_check(int argc, char **argv, const struct config *config);     /* cli_backup.c */
int cli_tls(int argc, char **argv, const struct config *config);       /* cli_tls.c */
int cli_notify(int argc, char **argv, const struct config *config);    /* cli_notify.c */
int cli_manual(int argc, char **argv, const struct config *config);    /* manual.c */
/* Fleet control (cli_fleet.c): channels, groups, pins and holds, rollouts. */
int cli_channel(int argc, char **argv, const struct config *config);
int cli_group(int argc, char **argv, const struct config *config);
int cli_pin(int argc, char **argv, const struct config *config);
int cli_rollout(int argc, char **argv, const struct config *config);
/* `otad device show PRODUCT MAC` and `otad product fleet PRODUCT ...`, reached from local.c. */
int cli_device_show(int argc, char **argv, const struct config *config);
int cli_product_fleet(int argc, char **argv, const struct config *config);

#endif
