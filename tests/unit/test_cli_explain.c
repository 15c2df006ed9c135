/*  test_cli_explain.c: how `strata explain` renders the placement engine's
 *  explanations (canned JSON in the shapes policy.h documents).  */
#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>

#include "output.h"

#define NOW_MS 1700000000000ull

/*  What cli_output_explain prints for json (caller frees); asserts it returns want_rc.  */
static char *
render (const char *json, int want_rc)
{
    char *text = NULL;
    size_t len = 0;
    FILE *out = open_memstream (&text, &len);
    cr_assert_not_null (out);
    cr_assert_eq (cli_output_explain (out, json, NOW_MS), want_rc, "for %s", json ? json : "NULL");
    fclose (out);
    return text;
}

static const char *PENDING =
    "{\"job\":42,\"reason\":\"waiting: needs 4 GPUs in one pool; onprem-eu has 2 free\","
    "\"expected_start_s\":1700000725.5,\"reserved_pool\":\"onprem-eu\","
    "\"pools\":["
    "{\"pool\":\"onprem-eu\",\"verdict\":\"short\",\"why\":\"2 of 4 GPUs free; job 17 holds 2 until 14:25\"},"
    "{\"pool\":\"cloud-us\",\"verdict\":\"excluded\",\"why\":\"jurisdiction US is not in the job's residency (EU)\"},"
    "{\"pool\":\"edge\",\"verdict\":\"excluded\",\"why\":\"clearance public is below the job's confidential data\"}]}";

Test (explain, pending_job_lists_every_pool_and_the_expected_start)
{
    char *text = render (PENDING, 0);
    cr_assert_str_eq (text, "reason: waiting: needs 4 GPUs in one pool; onprem-eu has 2 free\n"
                            "\n"
                            "POOL       VERDICT   WHY\n"
                            "onprem-eu  short     2 of 4 GPUs free; job 17 holds 2 until 14:25\n"
                            "cloud-us   excluded  jurisdiction US is not in the job's residency (EU)\n"
                            "edge       excluded  clearance public is below the job's confidential data\n"
                            "\n"
                            "expected start: 2023-11-14 22:25:25 UTC (in 12m05s), the reservation's start in pool "
                            "onprem-eu\n");
    free (text);
}

Test (explain, pending_job_without_a_reservation)
{
    char *text = render ("{\"job\":7,\"reason\":\"waiting: no pool allows confidential data\","
                         "\"expected_start_s\":null,\"reserved_pool\":null,\"pools\":[]}",
                         0);
    cr_assert_str_eq (text,
                      "reason: waiting: no pool allows confidential data\n"
                      "\n"
                      "expected start: unknown (no reservation: nothing running frees enough by a known time)\n");
    free (text);
    /*  A reservation already due.  */
    text = render ("{\"reason\":\"waiting\",\"expected_start_s\":1699999999,\"pools\":[]}", 0);
    cr_assert (strstr (text, "expected start: 2023-11-14 22:13:19 UTC (any moment now)"), "%s", text);
    free (text);
}

/*  The shape sp_explain_placement writes (raw figures in "figures").  */
static const char *PLACED =
    "{\"job\":42,\"pool\":\"onprem-eu\",\"pools\":[\"onprem-eu\"],\"variant\":\"llama-3-eu\","
    "\"nodes\":[\"g1\",\"g2\"],"
    "\"terms\":{\"cost\":0,\"latency\":0.25,\"energy\":0.1,\"carbon\":0,\"packing\":0.5,\"total\":0.1125},"
    "\"figures\":{\"cost_per_hour\":2.5,\"latency_ms\":4,\"kwh_per_hour\":1.12,\"co2_g_per_hour\":280,"
    "\"free_share\":0.5},"
    "\"weights\":{\"cost\":2,\"latency\":0.5,\"energy\":0,\"carbon\":1,\"packing\":0.25},"
    "\"runners_up\":["
    "{\"pool\":\"cloud-eu\",\"terms\":{\"cost\":1,\"latency\":0,\"energy\":1,\"carbon\":1,\"packing\":0,"
    "\"total\":0.8},\"figures\":{\"cost_per_hour\":7,\"latency_ms\":-1,\"kwh_per_hour\":1.5,"
    "\"co2_g_per_hour\":600}}],"
    "\"estimate\":{\"hours\":6,\"cost\":15,\"kwh\":6.72,\"co2_g\":1680},\"backfilled\":false,"
    "\"reason\":\"placed on pool onprem-eu (cheapest of 2 allowed pools)\"}";

Test (explain, placed_job_shows_terms_and_raw_figures_against_the_runners_up)
{
    char *text = render (PLACED, 0);
    cr_assert_str_eq (
        text, "placement:  placed on pool onprem-eu, model variant llama-3-eu\n"
              "nodes:      g1, g2\n"
              "reason:     placed on pool onprem-eu (cheapest of 2 allowed pools)\n"
              "\n"
              "   POOL       SCORE  COST  LATENCY  ENERGY  CARBON  PACKING  COST/H  LATENCY MS  KWH/H  GCO2/H\n"
              "*  onprem-eu   0.11  0.00     0.25    0.10    0.00     0.50     2.5           4   1.12     280\n"
              "   cloud-eu    0.80  1.00     0.00    1.00    1.00     0.00       7           -    1.5     600\n"
              "\n"
              "* chosen. Terms run from 0 (best of the candidates) to 1 (worst); SCORE is their weighted sum, "
              "lower is better.\n"
              "weights:  cost 2, latency 0.5, energy 0, carbon 1, packing 0.25\n"
              "estimate: cost 15, 6.72 kWh, 1680 g CO2 over 6 h\n");
    free (text);
}

Test (explain, shards_in_several_pools_and_a_backfilled_start)
{
    char *text = render ("{\"pool\":\"a\",\"pools\":[\"a\",\"b\"],\"terms\":{\"total\":0.5},\"backfilled\":true,"
                         "\"raw\":{\"cost_per_hour\":3},\"estimate\":{\"cost\":1}}",
                         0);
    cr_assert (strstr (text, "placement:  placed on pools a, b (backfilled ahead of a reserved job)\n"), "%s", text);
    cr_assert (strstr (text, "*  a      0.50"), "%s", text);
    cr_assert (strstr (text, "     3           -"), "raw figures are read from \"raw\" too: %s", text);
    cr_assert (strstr (text, "estimate: cost 1, - kWh, - g CO2 (over the time limit, or one hour without one)\n"),
               "%s", text);
    free (text);
}

Test (explain, figures_may_sit_on_the_candidate_itself)
{
    /*  Terms and raw figures flat on each candidate, no runners-up, no variant.  */
    char *text = render ("{\"pool\":\"p\",\"total\":0,\"cost\":0,\"cost_per_hour\":1.5,\"reason\":\"only pool\"}", 0);
    cr_assert (strstr (text, "placement:  placed on pool p\n"), "%s", text);
    cr_assert (
        strstr (text, "*  p      0.00  0.00        -       -       -        -     1.5           -      -       -\n"),
        "%s", text);
    cr_assert_null (strstr (text, "weights:"), "%s", text);
    cr_assert_null (strstr (text, "estimate:"), "%s", text);
    free (text);
}

Test (explain, text_from_the_scheduler_is_cleaned)
{
    char *text = render ("{\"reason\":\"waiting\\u001b[2J\",\"pools\":[{\"pool\":\"a\\nb\",\"verdict\":\"fits\","
                         "\"why\":\"\\u0007bell\"}]}",
                         0);
    cr_assert_null (strchr (text, '\033'), "%s", text);
    cr_assert_null (strchr (text, '\007'), "%s", text);
    cr_assert (strstr (text, "a b   fits"), "%s", text);
    free (text);
}

Test (explain, not_an_object_prints_nothing)
{
    static const char *const bad[] = { "", "[1,2]", "not json", "\"text\"", "{\"a\":1,\"a\":2}" };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        char *text = render (bad[i], -1);
        cr_assert_str_eq (text, "", "for %s", bad[i]);
        free (text);
    }
    char *text = render (NULL, -1);
    free (text);
}
