/*
 * How many CPUs this process may keep busy: the CPUs in its affinity mask
 * (taskset, systemd CPUAffinity=, a container's cpuset) and its cgroup v2 CPU
 * quota (systemd CPUQuota=, docker --cpus), whichever is smaller. Sizing a
 * thread pool by the machine's core count instead makes the extra threads
 * take turns on the same cores. The parsers take file contents so they can
 * be tested without a cgroup; cpus_budget_read does the reading. No state;
 * safe from any thread.
 */
#ifndef OTAD_CORE_CPUS_H
#define OTAD_CORE_CPUS_H

#include <stddef.h>

/* What cpus_budget_read found. */
struct cpus_budget {
    unsigned affinity; /* CPUs in the affinity mask; 0 when it could not be read */
    unsigned quota;    /* CPUs the cgroup quota allows (rounded up); 0 when there is none */
    unsigned usable;   /* cpus_usable(affinity, quota): at least 1 */
};

/*
 * The CPUs one cgroup v2 "cpu.max" file allows: "QUOTA PERIOD" (in
 * microseconds) gives QUOTA / PERIOD rounded up; "max PERIOD", an empty or
 * a malformed text gives 0 (no limit from this file).
 */
unsigned cpus_from_cpu_max(const char *cpu_max);

/*
 * Copies this process's cgroup v2 path ("/system.slice/otad.service") from
 * the text of /proc/self/cgroup (its "0::PATH" line) into OUT of SIZE bytes.
 * Returns 0, -ENOENT when the text has no v2 line (cgroup v1 only), or
 * -ENAMETOOLONG.
 */
int cpus_cgroup_path(const char *proc_self_cgroup, char *out, size_t size);

/*
 * The smallest quota in CPUs (as cpus_from_cpu_max) among the cpu.max files
 * of the cgroup at CGROUP_PATH below ROOT (the v2 mount, "/sys/fs/cgroup")
 * and of each of its ancestors: a parent's quota binds its children too.
 * Missing files count as no limit. Returns 0 when nothing limits.
 */
unsigned cpus_cgroup_quota(const char *root, const char *cgroup_path);

/*
 * The number of CPUs to size a thread pool by: the smaller of AFFINITY and
 * QUOTA where 0 means unknown or unlimited, and at least 1.
 */
unsigned cpus_usable(unsigned affinity, unsigned quota);

/*
 * Fills *RET for this process from sched_getaffinity, /proc/self/cgroup and
 * the cgroup v2 mount at /sys/fs/cgroup. Anything unreadable counts as no
 * limit; with nothing readable at all, the online CPU count is used.
 */
void cpus_budget_read(struct cpus_budget *ret);

#endif
