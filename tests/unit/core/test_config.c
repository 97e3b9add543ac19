/*
 * Unit tests for src/core/config.c: precedence, bounds, aliases, flags removal, and the
 * rows the documentation reads (config_setting_describe).
 */
#include <errno.h>
#include <stdbool.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "core/config.h"

static FILE *devnull(void)
{
    FILE *f = fopen("/dev/null", "w");
    assert_non_null(f);
    return f;
}

static void test_defaults(void **state)
{
    char *argv[] = {"otad", "serve", NULL};
    int argc = 2;
    char *envp[] = {NULL};
    struct config c;
    assert_int_equal(config_load(&c, &argc, argv, envp, stderr), 0);
    assert_string_equal(c.listen, "0.0.0.0:8080");
    assert_string_equal(c.data_dir, "/var/lib/otad");
    assert_true(c.max_upload_bytes == 16777216);
    assert_true(c.max_connections_per_ip == 64);
    assert_true(c.threads == 0); /* one per usable CPU */
    assert_int_equal(argc, 2);
}

static void test_connections_per_ip_zero_is_off(void **state)
{
    char *argv[] = {"otad", "--max-connections-per-ip", "0", "serve", NULL};
    int argc = 4;
    char *envp[] = {NULL};
    struct config c;
    assert_int_equal(config_load(&c, &argc, argv, envp, stderr), 0);
    assert_true(c.max_connections_per_ip == 0);
    char *env_bad[] = {"OTAD_MAX_CONNECTIONS_PER_IP=-1", NULL};
    char *argv2[] = {"otad", "serve", NULL};
    argc = 2;
    FILE *err = devnull();
    assert_int_equal(config_load(&c, &argc, argv2, env_bad, err), -EINVAL);
    fclose(err);
}

static void test_trusted_proxies(void **state)
{
    char *argv[] = {"otad", "serve", NULL};
    int argc = 2;
    char *envp[] = {NULL};
    struct config c;
    assert_int_equal(config_load(&c, &argc, argv, envp, stderr), 0);
    assert_int_equal(c.trusted_proxy_count, 0); /* nobody by default */

    char *env[] = {"OTAD_TRUSTED_PROXIES=10.0.0.5, 10.0.1.0/24,fd00::/64", NULL};
    argc = 2;
    assert_int_equal(config_load(&c, &argc, argv, env, stderr), 0);
    assert_int_equal(c.trusted_proxy_count, 3);
    struct net_addr a;
    assert_int_equal(net_addr_parse("10.0.1.77", 9, &a), 0);
    assert_false(net_prefix_contains(&c.trusted_proxy_list[0], &a));
    assert_true(net_prefix_contains(&c.trusted_proxy_list[1], &a));
    assert_int_equal(c.trusted_proxy_list[2].bits, 64);

    FILE *err = devnull();
    static const char *const bad[] = {"OTAD_TRUSTED_PROXIES=10.0.0.1/8",
                                      "OTAD_TRUSTED_PROXIES=10.0.0.5,lb.example.com",
                                      "OTAD_TRUSTED_PROXIES=10.0.0.0/33"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        char *env_bad[] = {(char *)bad[i], NULL};
        argc = 2;
        assert_int_equal(config_load(&c, &argc, argv, env_bad, err), -EINVAL);
    }
    /* One more than LIMIT_TRUSTED_PROXIES. */
    char many[2048] = "OTAD_TRUSTED_PROXIES=";
    for (unsigned i = 0; i <= LIMIT_TRUSTED_PROXIES; i++)
        snprintf(many + strlen(many), sizeof(many) - strlen(many), "10.0.%u.1,", i);
    char *env_many[] = {many, NULL};
    argc = 2;
    assert_int_equal(config_load(&c, &argc, argv, env_many, err), -EINVAL);
    fclose(err);
}

static void test_precedence_file_env_flag(void **state)
{
    char path[] = "/tmp/otad-config-XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    const char *ini = "[otad]\nlisten = 127.0.0.1:1\ndata_dir = /from/file\nthreads = 3\n"
                      "aliases = /esp/firmware.php=emonesp, fw.php=door\n";
    assert_int_equal(write(fd, ini, strlen(ini)), (ssize_t)strlen(ini));
    close(fd);

    char cfgflag[64];
    snprintf(cfgflag, sizeof(cfgflag), "--config=%s", path);
    char *argv[] = {"otad", cfgflag, "serve", "--listen", "127.0.0.1:3", "extra", NULL};
    int argc = 6;
    char *envp[] = {"OTAD_LISTEN=127.0.0.1:2", "OTAD_DATA_DIR=/from/env", "HOME=/root", NULL};
    struct config c;
    assert_int_equal(config_load(&c, &argc, argv, envp, stderr), 0);
    assert_string_equal(c.listen, "127.0.0.1:3"); /* flag beats env and file */
    assert_string_equal(c.data_dir, "/from/env"); /* env beats file */
    assert_true(c.threads == 3);                  /* file beats default */
    assert_int_equal(argc, 3);
    assert_string_equal(argv[1], "serve");
    assert_string_equal(argv[2], "extra");
    assert_null(argv[3]);
    assert_int_equal(c.alias_count, 2);
    assert_string_equal(config_alias_product(&c, "/esp/firmware.php"), "emonesp");
    assert_string_equal(config_alias_product(&c, "/fw.php"), "door");
    assert_null(config_alias_product(&c, "/other"));
    unlink(path);
}

static void test_rejects_bad_values(void **state)
{
    struct config c;
    FILE *err = devnull();
    {
        char *argv[] = {"otad", "--threads", "x", NULL};
        int argc = 3;
        char *envp[] = {NULL};
        assert_int_equal(config_load(&c, &argc, argv, envp, err), -EINVAL);
    }
    {
        char *argv[] = {"otad", NULL};
        int argc = 1;
        char *envp[] = {"OTAD_REGISTRY_FLUSH_MS=5000", NULL};
        assert_int_equal(config_load(&c, &argc, argv, envp, err), -EINVAL);
    }
    {
        char *argv[] = {"otad", "--listen", NULL};
        int argc = 2;
        char *envp[] = {NULL};
        assert_int_equal(config_load(&c, &argc, argv, envp, err), -EINVAL);
    }
    {
        char *argv[] = {"otad", "--aliases", "/x.php", NULL};
        int argc = 3;
        char *envp[] = {NULL};
        assert_int_equal(config_load(&c, &argc, argv, envp, err), -EINVAL);
    }
    {
        char *argv[] = {"otad", "--log-level", "loud", NULL};
        int argc = 3;
        char *envp[] = {NULL};
        assert_int_equal(config_load(&c, &argc, argv, envp, err), -EINVAL);
    }
    {
        char *argv[] = {"otad", "--config", "/nonexistent/otad.ini", NULL};
        int argc = 3;
        char *envp[] = {NULL};
        assert_int_equal(config_load(&c, &argc, argv, envp, err), -EINVAL);
    }
    fclose(err);
}

/* A flag given twice: the last one wins, and neither is left for the subcommand. */
static void test_repeated_flag_last_wins(void **state)
{
    char *argv[] = {"otad", "--listen", "127.0.0.1:1", "--listen-tls", ":8443", "--listen",
                    "off",  "serve",    NULL};
    int argc = 8;
    char *envp[] = {NULL};
    struct config c;
    assert_int_equal(config_load(&c, &argc, argv, envp, stderr), 0);
    assert_string_equal(c.listen, "off");
    assert_string_equal(c.listen_tls, ":8443");
    assert_int_equal(argc, 2);
    assert_string_equal(argv[1], "serve");
}

static void test_tls_settings(void **state)
{
    char *argv[] = {"otad", "serve", NULL};
    int argc = 2;
    char *envp[] = {"OTAD_TLS_CERT=/a.pem,/b.pem", "OTAD_TLS_SESSION_CACHE=0", NULL};
    struct config c;
    assert_int_equal(config_load(&c, &argc, argv, envp, stderr), 0);
    assert_string_equal(c.listen_tls, ""); /* no TLS listener unless asked */
    assert_string_equal(c.tls_cert, "/a.pem,/b.pem");
    assert_string_equal(c.tls_key, "");
    assert_true(c.tls_session_cache == 0);
    assert_true(c.tls_session_lifetime_s == 7200);
    assert_true(c.api_tls_only == 0);
    FILE *err = devnull();
    char *bad[] = {"otad", "--api-tls-only", "2", NULL};
    argc = 3;
    assert_int_equal(config_load(&c, &argc, bad, envp, err), -EINVAL);
    char *short_life[] = {"otad", "--tls-session-lifetime-s", "5", NULL};
    argc = 3;
    assert_int_equal(config_load(&c, &argc, short_life, envp, err), -EINVAL);
    fclose(err);
}

static void test_dump_round_trips(void **state)
{
    char *argv[] = {"otad", "--listen", "[::1]:9", "--aliases", "/a=b", NULL};
    int argc = 5;
    char *envp[] = {NULL};
    struct config c;
    assert_int_equal(config_load(&c, &argc, argv, envp, stderr), 0);
    char path[] = "/tmp/otad-dump-XXXXXX";
    int fd = mkstemp(path);
    FILE *f = fdopen(fd, "w");
    config_dump(&c, f);
    fclose(f);
    char flag[64];
    snprintf(flag, sizeof(flag), "--config=%s", path);
    char *argv2[] = {"otad", flag, NULL};
    int argc2 = 2;
    struct config d;
    assert_int_equal(config_load(&d, &argc2, argv2, envp, stderr), 0);
    assert_string_equal(d.listen, "[::1]:9");
    assert_string_equal(config_alias_product(&d, "/a"), "b");
    unlink(path);
}

/*
 * Each described row names what config_load reads: its flag and variable set
 * the setting, and an unset one keeps the default the row gives.
 */
static void test_describe_names_what_load_reads(void **state)
{
    size_t n = config_setting_count();
    assert_true(n >= 30);
    bool seen_listen = false, seen_aliases = false;
    for (size_t i = 0; i < n; i++) {
        struct config_setting_info s;
        config_setting_describe(i, &s);
        assert_true(s.key[0] && s.help[0]);
        assert_true(strncmp(s.flag, "--", 2) == 0 && strncmp(s.env, "OTAD_", 5) == 0);
        if (strcmp(s.key, "listen") == 0) {
            seen_listen = true;
            assert_string_equal(s.flag, "--listen");
            assert_string_equal(s.env, "OTAD_LISTEN");
            assert_string_equal(s.default_value, "0.0.0.0:8080");
            assert_false(s.is_number);
        }
        if (strcmp(s.key, "threads") == 0) {
            assert_true(s.is_number);
            assert_true(s.min == 0 && s.max == 256);
            assert_string_equal(s.default_value, "0");
        }
        if (strcmp(s.key, "aliases") == 0) { /* the field is aliases_text; the key is not */
            seen_aliases = true;
            assert_string_equal(s.flag, "--aliases");
            assert_string_equal(s.env, "OTAD_ALIASES");
        }
        /* The flag and the variable this row names are the ones config_load takes. */
        if (strcmp(s.key, "log_level") == 0) {
            char *argv[] = {"otad", s.flag, "debug", "serve", NULL};
            int argc = 4;
            char env_entry[96];
            snprintf(env_entry, sizeof(env_entry), "%s=warn", s.env);
            char *envp[] = {env_entry, NULL};
            struct config c;
            assert_int_equal(config_load(&c, &argc, argv, envp, stderr), 0);
            assert_string_equal(c.log_level, "debug");
            argc = 2;
            char *bare[] = {"otad", "serve", NULL};
            assert_int_equal(config_load(&c, &argc, bare, envp, stderr), 0);
            assert_string_equal(c.log_level, "warn");
        }
    }
    assert_true(seen_listen && seen_aliases);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_defaults),
        cmocka_unit_test(test_connections_per_ip_zero_is_off),
        cmocka_unit_test(test_trusted_proxies),
        cmocka_unit_test(test_precedence_file_env_flag),
        cmocka_unit_test(test_rejects_bad_values),
        cmocka_unit_test(test_dump_round_trips),
        cmocka_unit_test(test_repeated_flag_last_wins),
        cmocka_unit_test(test_tls_settings),
        cmocka_unit_test(test_describe_names_what_load_reads),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
