/* The CPUs a process may use (cpus.h): affinity mask and cgroup v2 quota. */
#include "core/cpus.h"

#include <errno.h>
#include <limits.h>
#include <sched.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "core/util.h"

#define CGROUP_V2_ROOT "/sys/fs/cgroup"
#define CPU_MAX_TEXT   64u /* "max 100000\n" or two 64-bit numbers and a space */

unsigned cpus_from_cpu_max(const char *cpu_max)
{
    char quota_text[24], period_text[24];
    if (sscanf(cpu_max, "%23s %23s", quota_text, period_text) != 2)
        return 0;
    uint64_t quota, period;
    if (parse_u64(quota_text, UINT64_MAX, &quota) < 0 ||
        parse_u64(period_text, UINT64_MAX, &period) < 0 || period == 0 || quota == 0)
        return 0; /* "max", or not two numbers: no limit from this file */
    uint64_t cpus = quota / period + (quota % period != 0);
    return cpus > UINT_MAX ? UINT_MAX : (unsigned)cpus;
}

int cpus_cgroup_path(const char *proc_self_cgroup, char *out, size_t size)
{
    for (const char *line = proc_self_cgroup; line && *line;) {
        const char *end = strchr(line, '\n');
        size_t len = end ? (size_t)(end - line) : strlen(line);
        if (len >= 3 && memcmp(line, "0::", 3) == 0) {
            if (len - 3 >= size)
                return -ENAMETOOLONG;
            memcpy(out, line + 3, len - 3);
            out[len - 3] = 0;
            return 0;
        }
        line = end ? end + 1 : NULL;
    }
    return -ENOENT;
}

/* The quota of one cgroup folder's cpu.max, 0 when it has none or cannot be read. */
static unsigned quota_of(const char *root, const char *path, size_t path_len)
{
    char file[PATH_MAX];
    int n = snprintf(file, sizeof(file), "%s%.*s/cpu.max", root, (int)path_len, path);
    if (n < 0 || (size_t)n >= sizeof(file))
        return 0;
    FILE *f = fopen(file, "re");
    if (!f)
        return 0;
    char text[CPU_MAX_TEXT];
    unsigned cpus = fgets(text, sizeof(text), f) ? cpus_from_cpu_max(text) : 0;
    fclose(f);
    return cpus;
}

unsigned cpus_cgroup_quota(const char *root, const char *cgroup_path)
{
    unsigned least = 0;
    size_t len = strlen(cgroup_path);
    while (len > 0 && cgroup_path[len - 1] == '/')
        len--;
    /*
     * The cgroup itself, then each parent up to the mount's root. The host's
     * root has no cpu.max; in a container with its own cgroup namespace the
     * root is the container's cgroup, and its cpu.max is the container's quota.
     */
    for (;;) {
        unsigned q = quota_of(root, cgroup_path, len);
        if (q && (!least || q < least))
            least = q;
        if (len == 0)
            return least;
        while (len > 0 && cgroup_path[len - 1] != '/')
            len--;
        while (len > 0 && cgroup_path[len - 1] == '/')
            len--;
    }
}

unsigned cpus_usable(unsigned affinity, unsigned quota)
{
    unsigned n = affinity;
    if (quota && (!n || quota < n))
        n = quota;
    return n ? n : 1;
}

void cpus_budget_read(struct cpus_budget *ret)
{
    struct cpus_budget b = {0};
    cpu_set_t mask;
    if (sched_getaffinity(0, sizeof(mask), &mask) == 0)
        b.affinity = (unsigned)CPU_COUNT(&mask);
    char text[4096], path[PATH_MAX];
    FILE *f = fopen("/proc/self/cgroup", "re");
    if (f) {
        size_t n = fread(text, 1, sizeof(text) - 1, f);
        text[n] = 0;
        fclose(f);
        if (cpus_cgroup_path(text, path, sizeof(path)) == 0)
            b.quota = cpus_cgroup_quota(CGROUP_V2_ROOT, path);
    }
    if (!b.affinity && !b.quota) {
        long online = sysconf(_SC_NPROCESSORS_ONLN);
        b.affinity = online > 0 ? (unsigned)online : 1;
    }
    b.usable = cpus_usable(b.affinity, b.quota);
    *ret = b;
}
