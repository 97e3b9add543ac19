/*
 * otad-sim: parses the flags (options.c), runs the fleet (sim.c) and prints
 * the final summary on stdout as one JSON object. Exit status: 0 after a
 * run, 1 when the run could not start or its timeline could not be written,
 * 2 for a bad flag.
 */
#include <stdio.h>

#include "options.h"
#include "otac/version.h"
#include "sim.h"

static struct sim_options options;

static void summary_print(const struct sim_summary *m)
{
    printf("{\"elapsed_s\":%.3f,\"devices\":%u,\"seen\":%u,\"checkins\":%llu,"
           "\"status_304\":%llu,\"status_200\":%llu,\"status_other\":%llu,\"served\":%llu,"
           "\"staged\":%llu,\"booted\":%llu,\"fell_back\":%llu,\"bricked\":%llu,"
           "\"failed\":%llu,\"cut\":%llu,\"refused\":%llu,\"errors\":%llu,\"deferred\":%llu,"
           "\"downloading_peak\":%u,\"timeline_lines\":%llu,\"answer_p50_us\":%llu,"
           "\"answer_p99_us\":%llu}\n",
           (double)m->elapsed_ms / 1000.0, m->devices, m->seen, (unsigned long long)m->checkins,
           (unsigned long long)m->status_304, (unsigned long long)m->status_200,
           (unsigned long long)m->status_other, (unsigned long long)m->served,
           (unsigned long long)m->staged, (unsigned long long)m->booted,
           (unsigned long long)m->fell_back, (unsigned long long)m->bricked,
           (unsigned long long)m->failed, (unsigned long long)m->cut,
           (unsigned long long)m->refused, (unsigned long long)m->errors,
           (unsigned long long)m->deferred, m->downloading_peak,
           (unsigned long long)m->timeline_lines, (unsigned long long)m->answer_p50_us,
           (unsigned long long)m->answer_p99_us);
}

int main(int argc, char **argv)
{
    char err[512];
    int r = options_parse(&options, argc, argv, err, sizeof(err), stdout);
    if (r < 0) {
        fprintf(stderr, "otad-sim: %s\n", err);
        return 2;
    }
    if (r == 1)
        return 0;
    if (r == 2) {
        printf("otad-sim (otad %s), otac %s\n", OTAD_VERSION, otac_version_string());
        return 0;
    }
    struct sim_summary summary;
    r = sim_run(&options, &summary);
    summary_print(&summary);
    fflush(stdout);
    return r < 0 ? 1 : 0;
}
