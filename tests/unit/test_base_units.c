/*  test_base_units.c: the unit parsers and formatters (st_units), shared by
 *  job specs, config files and flags.  */
#include <criterion/criterion.h>

#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "st_units.h"

Test (units, mem_mb)
{
    static const struct {
        const char *text;
        int ok;
        uint64_t mb;
    } cases[] = {
        { "512M", 1, 512 },
        { "512Mi", 1, 512 },
        { "512MiB", 1, 512 },
        { "512MB", 1, 512 },
        { "512m", 1, 512 },
        { "2G", 1, 2048 },
        { "2Gi", 1, 2048 },
        { "1T", 1, 1048576 },
        { "16T", 1, 16777216 },
        { "300", 1, 300 },
        { "1K", 1, 1 },
        { "1024K", 1, 1 },
        { "1025K", 1, 2 },
        { "1.5G", 1, 1536 },
        { "0.5M", 1, 1 },
        { "0.25G", 1, 256 },
        { "0", 1, 0 },
        { "1.000000001G", 1, 1025 },
        { "", 0, 0 },
        { "M", 0, 0 },
        { "5X", 0, 0 },
        { "-1", 0, 0 },
        { "+1", 0, 0 },
        { "1.2.3", 0, 0 },
        { " 5", 0, 0 },
        { "5 M", 0, 0 },
        { "512B", 0, 0 },
        { "512i", 0, 0 },
        { "5Mx", 0, 0 },
        { ".", 0, 0 },
        { "1E", 0, 0 },
        { "99999999999999999999", 0, 0 },
        { "9999999999T", 0, 0 },
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        uint64_t mb = 12345;
        int rc = st_parse_mem_mb (cases[i].text, &mb);
        cr_assert_eq (rc == 0, cases[i].ok, "\"%s\": rc %d", cases[i].text, rc);
        if (cases[i].ok)
            cr_assert_eq (mb, cases[i].mb, "\"%s\" gave %llu", cases[i].text, (unsigned long long) mb);
    }
    cr_assert_neq (st_parse_mem_mb (NULL, NULL), 0);
}

Test (units, duration_s)
{
    static const struct {
        const char *text;
        int ok;
        uint32_t s;
    } cases[] = {
        { "90", 1, 90 },
        { "90s", 1, 90 },
        { "30m", 1, 1800 },
        { "2h", 1, 7200 },
        { "1d", 1, 86400 },
        { "0", 1, 0 },
        { "1h30m", 1, 5400 },
        { "1.5h", 1, 5400 },
        { "2000ms", 1, 2 },
        { "4294967295", 1, 4294967295u },
        { "", 0, 0 },
        { "abc", 0, 0 },
        { "-5", 0, 0 },
        { "5x", 0, 0 },
        { "1500ms", 0, 0 },
        { "4294967296", 0, 0 },
        { "1.5", 0, 0 },
        { "s", 0, 0 },
        { "5 s", 0, 0 },
        { "1h30", 0, 0 },
        { "99999999999d", 0, 0 },
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        uint32_t s = 12345;
        int rc = st_parse_duration_s (cases[i].text, &s);
        cr_assert_eq (rc == 0, cases[i].ok, "\"%s\": rc %d", cases[i].text, rc);
        if (cases[i].ok)
            cr_assert_eq (s, cases[i].s, "\"%s\" gave %u", cases[i].text, s);
    }
}

Test (units, duration_ms)
{
    static const struct {
        const char *text;
        int ok;
        uint64_t ms;
    } cases[] = {
        { "250ms", 1, 250 },
        { "2s", 1, 2000 },
        { "1.5s", 1, 1500 },
        { "1m", 1, 60000 },
        { "1h", 1, 3600000 },
        { "1d", 1, 86400000 },
        { "500", 1, 500 },
        { "0", 1, 0 },
        { "1m30s", 1, 90000 },
        { "0.5m", 1, 30000 },
        { "1.25ms", 0, 0 },
        { "1.0005s", 0, 0 },
        { "", 0, 0 },
        { "abc", 0, 0 },
        { "-1s", 0, 0 },
        { "1x", 0, 0 },
        { "s", 0, 0 },
        { "1s5", 0, 0 },
        { "1 s", 0, 0 },
        { "1.5", 0, 0 },
        { ".s", 0, 0 },
        { "99999999999999999999ms", 0, 0 },
        { "999999999999999d", 0, 0 },
        { "1S", 0, 0 },
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        uint64_t ms = 12345;
        int rc = st_parse_duration_ms (cases[i].text, &ms);
        cr_assert_eq (rc == 0, cases[i].ok, "\"%s\": rc %d", cases[i].text, rc);
        if (cases[i].ok)
            cr_assert_eq (ms, cases[i].ms, "\"%s\" gave %llu", cases[i].text, (unsigned long long) ms);
    }
    cr_assert_neq (st_parse_duration_ms (NULL, NULL), 0);
}

Test (units, cpus_milli)
{
    static const struct {
        const char *text;
        int rc;
        uint64_t milli;
    } cases[] = {
        { "2", 0, 2000 },         { "0.5", 0, 500 }, { "1.125", 0, 1125 },
        { "1.1250", 0, 1125 },    { "0", 0, 0 },     { ".5", 0, 500 },
        { "1.2345", -2, 0 },      { "", -1, 0 },     { "abc", -1, 0 },
        { "-1", -1, 0 },          { "1.", 0, 1000 }, { "1x", -1, 0 },
        { "99999999999", -1, 0 },
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        uint64_t milli = 12345;
        int rc = st_parse_cpus_milli (cases[i].text, &milli);
        cr_assert_eq (rc, cases[i].rc, "\"%s\": rc %d", cases[i].text, rc);
        if (rc == 0)
            cr_assert_eq (milli, cases[i].milli, "\"%s\" gave %llu", cases[i].text, (unsigned long long) milli);
    }
}

Test (units, formats)
{
    char buf[32];
    cr_assert_str_eq (st_format_ms (7200000, buf, sizeof buf), "2h");
    cr_assert_str_eq (st_format_ms (90000, buf, sizeof buf), "90s");
    cr_assert_str_eq (st_format_ms (1500, buf, sizeof buf), "1500ms");
    cr_assert_str_eq (st_format_ms (0, buf, sizeof buf), "0ms");
    cr_assert_str_eq (st_format_mb (4096, buf, sizeof buf), "4G");
    cr_assert_str_eq (st_format_mb (2 * 1024 * 1024, buf, sizeof buf), "2T");
    cr_assert_str_eq (st_format_mb (512, buf, sizeof buf), "512M");
    cr_assert_str_eq (st_format_milli (2000, buf, sizeof buf), "2");
    cr_assert_str_eq (st_format_milli (500, buf, sizeof buf), "0.5");
    cr_assert_str_eq (st_format_milli (1125, buf, sizeof buf), "1.125");
}

Test (units, round_trips)
{
    /*  What a formatter writes, the parser reads back to the same value.  */
    static const uint64_t ms[] = { 1, 999, 1000, 60000, 90000, 3600000, 86400000, 86400001 };
    static const uint64_t mb[] = { 1, 512, 1024, 1536, 1048576, 3 * 1048576 };
    static const uint64_t milli[] = { 1, 500, 1000, 1125, 64000 };
    char buf[32];
    for (size_t i = 0; i < sizeof ms / sizeof ms[0]; i++) {
        uint64_t back = 0;
        cr_assert_eq (st_parse_duration_ms (st_format_ms (ms[i], buf, sizeof buf), &back), 0, "%s", buf);
        cr_assert_eq (back, ms[i], "%s", buf);
    }
    for (size_t i = 0; i < sizeof mb / sizeof mb[0]; i++) {
        uint64_t back = 0;
        cr_assert_eq (st_parse_mem_mb (st_format_mb (mb[i], buf, sizeof buf), &back), 0, "%s", buf);
        cr_assert_eq (back, mb[i], "%s", buf);
    }
    for (size_t i = 0; i < sizeof milli / sizeof milli[0]; i++) {
        uint64_t back = 0;
        cr_assert_eq (st_parse_cpus_milli (st_format_milli (milli[i], buf, sizeof buf), &back), 0, "%s", buf);
        cr_assert_eq (back, milli[i], "%s", buf);
    }
}
