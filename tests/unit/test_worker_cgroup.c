/*  test_worker_cgroup.c: the pure parts of worker/cgroup.c — reading
 *  /proc/self/cgroup, /proc/self/mountinfo and flat-keyed control files, and
 *  the cpu.max a CPU share becomes. The groups themselves are exercised by
 *  tests/integration/test_cgroup.sh against the kernel.  */
#include <criterion/criterion.h>
#include <string.h>

#include "cgroup.h"

static const char *s_mountinfo =
    "30 22 0:27 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755\n"
    "31 30 0:28 / /sys/fs/cgroup/cpu,cpuacct rw,relatime - cgroup cgroup rw,cpu,cpuacct\n"
    "34 30 0:31 /docker/abc /sys/fs/cgroup/memory rw,relatime master:7 - cgroup cgroup rw,memory\n"
    "38 30 0:35 / /sys/fs/cgroup/pids rw,relatime - cgroup cgroup rw,pids\n"
    "39 30 0:36 / /sys/fs/cgroup/systemd rw,relatime - cgroup cgroup rw,xattr,name=systemd\n"
    "40 30 0:37 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw,nsdelegate\n";

Test (cgroup, mount_v1_controllers)
{
    char mnt[256], root[256];
    cr_assert_eq (st__cgroup_parse_mount (s_mountinfo, "memory", mnt, sizeof mnt, root, sizeof root), 0);
    cr_assert_str_eq (mnt, "/sys/fs/cgroup/memory");
    cr_assert_str_eq (root, "/docker/abc", "a mount of a sub-tree names its root");
    cr_assert_eq (st__cgroup_parse_mount (s_mountinfo, "cpuacct", mnt, sizeof mnt, root, sizeof root), 0);
    cr_assert_str_eq (mnt, "/sys/fs/cgroup/cpu,cpuacct", "cpu and cpuacct mounted together");
    cr_assert_eq (st__cgroup_parse_mount (s_mountinfo, "cpu", mnt, sizeof mnt, root, sizeof root), 0);
    cr_assert_str_eq (mnt, "/sys/fs/cgroup/cpu,cpuacct");
    cr_assert_str_eq (root, "/");
    cr_assert_eq (st__cgroup_parse_mount (s_mountinfo, "pids", mnt, sizeof mnt, root, sizeof root), 0);
    cr_assert_str_eq (mnt, "/sys/fs/cgroup/pids");
    cr_assert_eq (st__cgroup_parse_mount (s_mountinfo, "cpuset", mnt, sizeof mnt, root, sizeof root), -1);
    cr_assert_eq (st__cgroup_parse_mount (s_mountinfo, "name", mnt, sizeof mnt, root, sizeof root), -1,
                  "an option is matched whole, never as a prefix");
}

Test (cgroup, mount_v2)
{
    char mnt[256], root[256];
    cr_assert_eq (st__cgroup_parse_mount (s_mountinfo, NULL, mnt, sizeof mnt, root, sizeof root), 0);
    cr_assert_str_eq (mnt, "/sys/fs/cgroup/unified");
    cr_assert_eq (
        st__cgroup_parse_mount ("40 30 0:37 / /x rw - ext4 /dev/sda rw\n", NULL, mnt, sizeof mnt, root, sizeof root),
        -1);
    char tiny[8];
    cr_assert_eq (st__cgroup_parse_mount (s_mountinfo, "memory", tiny, sizeof tiny, root, sizeof root), -1,
                  "a path that does not fit is an error, not a truncation");
}

Test (cgroup, self_path)
{
    const char *text = "9:name=systemd:/\n8:pids:/\n4:memory:/process_api/3fa9\n2:cpu,cpuacct:/user.slice\n0::/w\n";
    char out[256];
    cr_assert_eq (st__cgroup_parse_self (text, "memory", out, sizeof out), 0);
    cr_assert_str_eq (out, "/process_api/3fa9");
    cr_assert_eq (st__cgroup_parse_self (text, "cpuacct", out, sizeof out), 0);
    cr_assert_str_eq (out, "/user.slice");
    cr_assert_eq (st__cgroup_parse_self (text, "pids", out, sizeof out), 0);
    cr_assert_str_eq (out, "/");
    cr_assert_eq (st__cgroup_parse_self (text, NULL, out, sizeof out), 0);
    cr_assert_str_eq (out, "/w");
    cr_assert_eq (st__cgroup_parse_self (text, "cpuset", out, sizeof out), -1);
    cr_assert_eq (st__cgroup_parse_self ("4:memory:/a\n", NULL, out, sizeof out), -1, "no v2 line");
}

Test (cgroup, flat_keyed_files)
{
    uint64_t v = 0;
    const char *oom_control = "oom_kill_disable 0\nunder_oom 0\noom_kill 3\n";
    cr_assert_eq (st__cgroup_parse_kv (oom_control, "oom_kill", &v), 1);
    cr_assert_eq (v, 3, "oom_kill, not oom_kill_disable");
    const char *events = "low 0\nhigh 0\nmax 12\noom 2\noom_kill 1\noom_group_kill 0\n";
    cr_assert_eq (st__cgroup_parse_kv (events, "oom_kill", &v), 1);
    cr_assert_eq (v, 1);
    const char *cpu_stat = "usage_usec 1234567\nuser_usec 1000000\nsystem_usec 234567\n";
    cr_assert_eq (st__cgroup_parse_kv (cpu_stat, "usage_usec", &v), 1);
    cr_assert_eq (v, 1234567);
    cr_assert_eq (st__cgroup_parse_kv (cpu_stat, "nr_throttled", &v), 0);
    cr_assert_eq (st__cgroup_parse_kv ("", "oom_kill", &v), 0);
}

Test (cgroup, controller_lists)
{
    cr_assert (st__cgroup_list_has ("cpuset cpu io memory hugetlb pids rdma\n", "memory"));
    cr_assert (st__cgroup_list_has ("cpuset cpu io memory hugetlb pids rdma\n", "cpu"));
    cr_assert (!st__cgroup_list_has ("cpuset io memory\n", "cpu"), "cpuset is not cpu");
    cr_assert (!st__cgroup_list_has ("", "pids"));
}

Test (cgroup, cpu_max)
{
    char buf[48];
    st__cgroup_cpu_max (0, buf, sizeof buf);
    cr_assert_str_eq (buf, "max 100000");
    st__cgroup_cpu_max (250, buf, sizeof buf);
    cr_assert_str_eq (buf, "25000 100000");
    st__cgroup_cpu_max (2000, buf, sizeof buf);
    cr_assert_str_eq (buf, "200000 100000");
    st__cgroup_cpu_max (5, buf, sizeof buf);
    cr_assert_str_eq (buf, "1000 100000", "the kernel's floor of 1 ms per period");
}
