/*
 * Tests for src/cli/cli_key.c (`otad key`, `otad sign`, `otad verify`),
 * kept beside the signing tests they build on. Each command runs in-process
 * with stdout and stderr captured to files; the exit statuses (0 valid, 1
 * refused, 2 usage) and the printed fields are checked.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h>

#include "cli/cli.h"
#include "cli/commands.h"
#include "core/config.h"
#include "core/digest.h"
#include "../signing/support.h"

typedef int (*command_fn)(int argc, char **argv, const struct config *config);

struct fixture {
    char *dir;
    struct config config;
};

/* What a command printed. */
struct output {
    int status;
    char *out; /* stdout, NUL-terminated; caller frees */
    char *err; /* stderr */
};

static int setup(void **state)
{
    struct fixture *f = calloc(1, sizeof(*f));
    f->dir = test_tmpdir_new();
    snprintf(f->config.data_dir, sizeof(f->config.data_dir), "%s/data", f->dir);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *f = *state;
    test_tmpdir_free(f->dir);
    free(f);
    return 0;
}

/* Runs FN with the NULL-terminated arguments after ARG0, capturing its output. */
static struct output run(struct fixture *f, command_fn fn, const char *arg0, ...)
{
    char *argv[32];
    int argc = 0;
    va_list ap;
    va_start(ap, arg0);
    for (const char *a = arg0; a && argc < 31; a = va_arg(ap, const char *))
        argv[argc++] = strdup(a);
    va_end(ap);
    argv[argc] = NULL;

    const char *out_path = test_path("%s/stdout", f->dir);
    const char *err_path = test_path("%s/stderr", f->dir);
    fflush(stdout);
    fflush(stderr);
    int saved_out = dup(1), saved_err = dup(2);
    int out_fd = open(out_path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    int err_fd = open(err_path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    assert_true(saved_out >= 0 && saved_err >= 0 && out_fd >= 0 && err_fd >= 0);
    dup2(out_fd, 1);
    dup2(err_fd, 2);
    struct output o;
    o.status = fn(argc, argv, &f->config);
    fflush(stdout);
    fflush(stderr);
    dup2(saved_out, 1);
    dup2(saved_err, 2);
    close(saved_out);
    close(saved_err);
    close(out_fd);
    close(err_fd);
    size_t len;
    o.out = (char *)test_read_file(out_path, &len);
    o.err = (char *)test_read_file(err_path, &len);
    for (int i = 0; i < argc; i++)
        free(argv[i]);
    return o;
}

static void output_free(struct output *o)
{
    free(o->out);
    free(o->err);
}

/* Runs the command and checks its status, and that stdout (or stderr) contains TEXT. */
#define expect(f, want, stream, text, ...)                                                         \
    do {                                                                                           \
        struct output o_ = run(f, __VA_ARGS__, NULL);                                              \
        const char *text_ = (text);                                                                \
        if (o_.status != (want) || (text_ && !strstr(o_.stream, text_)))                           \
            fail_msg("status %d, want %d; stdout: %s; stderr: %s", o_.status, (want), o_.out,      \
                     o_.err);                                                                      \
        output_free(&o_);                                                                          \
    } while (0)

static void test_key_generate(void **state)
{
    struct fixture *f = *state;
    expect(f, CLI_EXIT_OK, out, "generated rsa-2048 key 'rsa-2048'", cli_key, "key", "generate",
           "--type", "rsa-2048");
    struct stat st;
    assert_int_equal(stat(test_path("%s/keys/rsa-2048.key", f->config.data_dir), &st), 0);
    assert_int_equal(st.st_mode & 0777, 0600);
    assert_int_equal(stat(test_path("%s/keys/rsa-2048.pub", f->config.data_dir), &st), 0);

    /* Never overwrites. */
    expect(f, CLI_EXIT_FAILURE, err, "already exists", cli_key, "key", "generate", "--type",
           "rsa-2048");
    expect(f, CLI_EXIT_OK, out, "'fleet'", cli_key, "key", "generate", "--name", "fleet", "--type",
           "ecdsa-p256");

    /* Usage errors. */
    expect(f, CLI_EXIT_USAGE, err, "--type is required", cli_key, "key", "generate");
    expect(f, CLI_EXIT_USAGE, err, "unknown key type 'dsa'", cli_key, "key", "generate", "--type",
           "dsa");
    expect(f, CLI_EXIT_USAGE, err, "invalid key name", cli_key, "key", "generate", "--type",
           "rsa-2048", "--name", "../x");
    expect(f, CLI_EXIT_USAGE, err, "needs a value", cli_key, "key", "generate", "--type");
    expect(f, CLI_EXIT_USAGE, err, "unknown option \"--size\"", cli_key, "key", "generate",
           "--size", "1");
    expect(f, CLI_EXIT_USAGE, err, "unexpected argument", cli_key, "key", "generate", "--type",
           "rsa-2048", "extra");
    expect(f, CLI_EXIT_USAGE, err, "unknown command 'make'", cli_key, "key", "make");
    expect(f, CLI_EXIT_USAGE, err, "usage:", cli_key, "key");
    expect(f, CLI_EXIT_OK, out, "otad key list", cli_key, "key", "--help");
}

static void test_key_list_and_export(void **state)
{
    struct fixture *f = *state;
    /* No keys folder yet: an empty list. */
    struct output o = run(f, cli_key, "key", "list", NULL);
    assert_int_equal(o.status, CLI_EXIT_OK);
    assert_string_equal(o.out, "");
    output_free(&o);

    expect(f, CLI_EXIT_OK, out, NULL, cli_key, "key", "generate", "--type", "ecdsa-p384", "--name",
           "zeta");
    expect(f, CLI_EXIT_OK, out, NULL, cli_key, "key", "generate", "--type", "rsa-2048", "--name",
           "alpha");
    o = run(f, cli_key, "key", "list", NULL);
    assert_int_equal(o.status, CLI_EXIT_OK);
    char *zeta = strstr(o.out, "zeta ecdsa-p384 ");
    char *alpha = strstr(o.out, "alpha rsa-2048 ");
    assert_non_null(zeta);
    assert_non_null(alpha);
    assert_true(alpha < zeta); /* sorted */
    /* Two lines of name, type and a SHA-256 fingerprint. */
    char name[2][64], type[2][16], fp[2][80];
    assert_int_equal(sscanf(o.out, "%63s %15s %79s\n%63s %15s %79s", name[0], type[0], fp[0],
                            name[1], type[1], fp[1]),
                     6);
    assert_int_equal(strlen(fp[0]), 64);
    assert_int_equal(strlen(fp[1]), 64);
    assert_string_not_equal(fp[0], fp[1]);
    output_free(&o);
    expect(f, CLI_EXIT_USAGE, err, "unexpected argument", cli_key, "key", "list", "x");

    /* PEM export is the .pub file. */
    o = run(f, cli_key, "key", "export", "alpha", NULL);
    assert_int_equal(o.status, CLI_EXIT_OK);
    size_t len;
    char *pub = (char *)test_read_file(test_path("%s/keys/alpha.pub", f->config.data_dir), &len);
    assert_string_equal(o.out, pub);
    free(pub);
    output_free(&o);
    /* C export, also from a file path. */
    expect(f, CLI_EXIT_OK, out, "const uint8_t pubkey_alpha[] = {", cli_key, "key", "export",
           "alpha", "--format", "c");
    expect(f, CLI_EXIT_OK, out, "const size_t pubkey_zeta_len", cli_key, "key", "export",
           "--format", "c", test_path("%s/keys/zeta.pub", f->config.data_dir));
    expect(f, CLI_EXIT_FAILURE, err, "no key 'beta'", cli_key, "key", "export", "beta");
    expect(f, CLI_EXIT_USAGE, err, "unknown format 'der'", cli_key, "key", "export", "alpha",
           "--format", "der");
    expect(f, CLI_EXIT_USAGE, err, "give one key", cli_key, "key", "export");
}

static void test_sign_and_verify(void **state)
{
    struct fixture *f = *state;
    expect(f, CLI_EXIT_OK, out, NULL, cli_key, "key", "generate", "--type", "rsa-2048");
    expect(f, CLI_EXIT_OK, out, NULL, cli_key, "key", "generate", "--type", "ecdsa-p256", "--name",
           "ec");
    /* run() formats paths too: keep ours in storage of their own. */
    char in[PATH_MAX], signed_path[PATH_MAX], pub[PATH_MAX + 32], priv[PATH_MAX + 32];
    char bad[PATH_MAX];
    snprintf(in, sizeof(in), "%s/fw.bin", f->dir);
    snprintf(signed_path, sizeof(signed_path), "%s/fw.signed", f->dir);
    snprintf(pub, sizeof(pub), "%s/keys/rsa-2048.pub", f->config.data_dir);
    snprintf(priv, sizeof(priv), "%s/keys/rsa-2048.key", f->config.data_dir);
    snprintf(bad, sizeof(bad), "%s/fw.bad", f->dir);
    size_t len = 12345;
    uint8_t *payload = test_payload(len, 1);
    test_write_file(in, payload, len);
    char digest[80] = "digest: sha256:";
    digest_sha256_hex(payload, len, digest + strlen(digest));

    /* sign prints what it made, and the file is payload | 256 | 4. */
    struct output o =
        run(f, cli_sign, "sign", "--key", "rsa-2048", "--format", "esp8266", in, signed_path, NULL);
    assert_int_equal(o.status, CLI_EXIT_OK);
    assert_non_null(strstr(o.out, "format: esp8266\n"));
    assert_non_null(strstr(o.out, digest));
    assert_non_null(strstr(o.out, "payload: 12345 bytes"));
    output_free(&o);
    size_t signed_len;
    uint8_t *image = test_read_file(signed_path, &signed_len);
    assert_int_equal(signed_len, len + 256 + 4);
    assert_memory_equal(image, payload, len);

    /* verify: by key name, by public file, by private file; auto and explicit. */
    o = run(f, cli_verify, "verify", signed_path, "--key", "rsa-2048", NULL);
    assert_int_equal(o.status, CLI_EXIT_OK);
    assert_non_null(strstr(o.out, "format: esp8266\n"));
    assert_non_null(strstr(o.out, digest));
    assert_non_null(strstr(o.out, "verdict: valid"));
    output_free(&o);
    expect(f, CLI_EXIT_OK, out, "verdict: valid", cli_verify, "verify", "--key", pub, "--format",
           "esp8266", signed_path);
    expect(f, CLI_EXIT_OK, out, "verdict: valid", cli_verify, "verify", "--key", priv, signed_path);

    /* Mismatches exit 1 and say why. */
    expect(f, CLI_EXIT_FAILURE, err, "esp8266 form", cli_verify, "verify", "--key", pub, "--format",
           "esp8266-legacy", signed_path);
    expect(f, CLI_EXIT_FAILURE, out, "verdict: INVALID", cli_verify, "verify", "--key", "ec",
           signed_path);
    image[len / 2] ^= 1;
    test_write_file(bad, image, signed_len);
    expect(f, CLI_EXIT_FAILURE, out, "verdict: INVALID", cli_verify, "verify", "--key", pub, bad);
    test_write_file(bad, image, 10);
    expect(f, CLI_EXIT_FAILURE, out, "verdict: INVALID", cli_verify, "verify", "--key", pub, bad);
    free(image);

    /* esp32 with ECDSA and SHA-384; auto-detected on verify. */
    o = run(f, cli_sign, "sign", "--key", "ec", "--format", "esp32", "--hash", "sha384", in,
            signed_path, NULL);
    assert_int_equal(o.status, CLI_EXIT_OK);
    output_free(&o);
    expect(f, CLI_EXIT_OK, out, "digest: sha384:", cli_verify, "verify", signed_path, "--key",
           "ec");
    expect(f, CLI_EXIT_FAILURE, out, "verdict: INVALID", cli_verify, "verify", signed_path, "--key",
           "ec", "--hash", "sha256");

    /* Refusals by the signing module: exit 1. */
    expect(f, CLI_EXIT_FAILURE, err, "need an rsa key", cli_sign, "sign", "--key", "ec", "--format",
           "esp8266", in, signed_path);
    expect(f, CLI_EXIT_FAILURE, err, "cannot read", cli_sign, "sign", "--key", "rsa-2048",
           "--format", "esp8266", test_path("%s/missing.bin", f->dir), signed_path);
    assert_int_equal(chmod(priv, 0644), 0);
    expect(f, CLI_EXIT_FAILURE, err, "chmod 600", cli_sign, "sign", "--key", "rsa-2048", "--format",
           "esp8266", in, signed_path);
    assert_int_equal(chmod(priv, 0600), 0);

    /* Usage errors: exit 2. */
    expect(f, CLI_EXIT_USAGE, err, "--key and --format are required", cli_sign, "sign", "--key",
           "rsa-2048", in, signed_path);
    expect(f, CLI_EXIT_USAGE, err, "unknown format 'auto'", cli_sign, "sign", "--key", "rsa-2048",
           "--format", "auto", in, signed_path);
    expect(f, CLI_EXIT_USAGE, err, "unknown hash 'md5'", cli_sign, "sign", "--key", "rsa-2048",
           "--format", "esp32", "--hash", "md5", in, signed_path);
    expect(f, CLI_EXIT_USAGE, err, "input and an output", cli_sign, "sign", "--key", "rsa-2048",
           "--format", "esp8266", in);
    expect(f, CLI_EXIT_USAGE, err, "--key is required", cli_verify, "verify", signed_path);
    expect(f, CLI_EXIT_USAGE, err, "one file", cli_verify, "verify", "--key", "ec", in,
           signed_path);
    expect(f, CLI_EXIT_USAGE, err, "unknown format 'esp9'", cli_verify, "verify", "--key", "ec",
           "--format", "esp9", signed_path);
    expect(f, CLI_EXIT_USAGE, err, "unknown option", cli_verify, "verify", "--bogus", signed_path);
    free(payload);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_key_generate, setup, teardown),
        cmocka_unit_test_setup_teardown(test_key_list_and_export, setup, teardown),
        cmocka_unit_test_setup_teardown(test_sign_and_verify, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
