/*
 * `otad version` and `otad --version`: what the binary was built from (the git
 * description), how (the build's options), and the version of every library
 * it links, each as the loaded library reports it at run time where the
 * library can, the version it was built against otherwise (marked so). Each
 * library's version comes from the layer that calls that library; this file
 * only gathers and prints them. tests/e2e/test_version.py holds the list
 * against the binary's dynamic section.
 */
#include <gnu/libc-version.h>
#include <jansson.h>
#include <stdio.h>

#include "cli/cli.h"
#include "cli/commands.h"
#include "cli/subcommands.h"
#include "core/build_info.h"
#include "core/digest.h"
#include "core/gzip.h"
#include "core/util.h"
#include "http/server.h"
#include "http/tls.h"
#include "service/service.h"
#include "sources/fetch.h"

/* One linked library: its file name without ".so.N" (what the dynamic section names). */
struct library_version {
    const char *name;
    const char *version;
    const char *note; /* NULL: the loaded library's own answer */
};

int cli_version(int argc, char **argv, const struct config *config)
{
    (void)config;
    if (argc > 1)
        return cli_usage("version");
    char pq_version[32];
    const char *sqlite_version = service_database_library_versions(pq_version, sizeof(pq_version));
    const struct library_version libraries[] = {
        {"libmicrohttpd", http_server_mhd_version(), NULL},
        {"libgnutls", tls_gnutls_version(), NULL},
        {"libsqlite3", sqlite_version, NULL},
        {"libpq", pq_version, NULL},
        {"libcrypto", digest_openssl_version(), "OpenSSL"},
        {"libcurl", fetch_curl_version(), NULL},
        {"libjansson", jansson_version_str(), NULL},
        {"libinih", build_info_inih_version(), "compile time: inih has no run-time version"},
        {"libz", gzip_zlib_version(), NULL},
        {"libc", gnu_get_libc_version(), "glibc"},
    };
    printf("otad %s\n", build_info_describe());
    printf("build: %s\n", build_info_options());
    printf("libraries:\n");
    for (size_t i = 0; i < ARRAY_SIZE(libraries); i++) {
        if (libraries[i].version[0] == '\0')
            continue; /* libpq in a build without PostgreSQL */
        printf("  %-14s %s", libraries[i].name, libraries[i].version);
        if (libraries[i].note)
            printf(" (%s)", libraries[i].note);
        printf("\n");
    }
    return CLI_EXIT_OK;
}
