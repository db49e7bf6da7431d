/* report.c - table and JSON output. */
#include "report.h"

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const char *const lat_names[LAT_COUNT] = {"p50", "p90", "p99", "p99.9", "p99.99", "max"};

void report_table_header(FILE *out)
{
    fprintf(out, "%-6s %-20s %3s %3s %3s %3s %5s %10s %9s %9s %9s %9s  %-6s %s\n", "system",
            "scenario", "P", "W", "S", "T", "bytes", "events/s", "p50 us", "p99 us",
            "p99.99us", "max us", "check", "extra");
}

static void print_latency(FILE *out, const struct result *r)
{
    static const int shown[] = {LAT_P50, LAT_P99, LAT_P9999, LAT_MAX};
    for (unsigned i = 0; i < sizeof(shown) / sizeof(shown[0]); i++) {
        if (r->has_latency)
            fprintf(out, " %9.2f", r->lat_ns[shown[i]] / 1e3);
        else
            fprintf(out, " %9s", "-");
    }
}

void report_table_row(FILE *out, const struct result *r)
{
    const struct run_params *p = &r->params;
    fprintf(out, "%-6s %-20s %3u %3u %3u %3u %5u", r->system, r->scenario, p->producers,
            p->workers, p->subs, p->topics, p->payload);
    if (r->rate > 0)
        fprintf(out, " %10.4gM", r->rate / 1e6);
    else
        fprintf(out, " %11s", "-");
    print_latency(out, r);
    fprintf(out, "  %-6s", r->skipped ? "n/a" : !r->ok ? "FAIL" : r->implausible ? "odd" : "ok");
    for (unsigned i = 0; i < r->nextra; i++)
        fprintf(out, " %s=%.4g", r->extra[i].key, r->extra[i].value);
    if (r->note[0])
        fprintf(out, " (%s)", r->note);
    fputc('\n', out);
    fflush(out);
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static double median_of(double *values, unsigned n)
{
    qsort(values, n, sizeof(*values), cmp_double);
    return n % 2 ? values[n / 2] : (values[n / 2 - 1] + values[n / 2]) / 2;
}

/* The median of the double at @offset in each repetition. */
static double median_field(const struct result *reps, unsigned n, size_t offset)
{
    double values[n];
    for (unsigned i = 0; i < n; i++)
        memcpy(&values[i], (const char *)&reps[i] + offset, sizeof(double));
    return median_of(values, n);
}

void report_median(const struct result *reps, unsigned n, struct result *out)
{
    *out = reps[n / 2];
    for (unsigned i = 0; i < n; i++) {
        if (!reps[i].ok && !reps[i].skipped) {
            *out = reps[i]; /* keep the failing repetition's note */
            break;
        }
    }
    out->rate = median_field(reps, n, offsetof(struct result, rate));
    out->seconds = median_field(reps, n, offsetof(struct result, seconds));
    for (unsigned k = 0; k < LAT_COUNT; k++)
        out->lat_ns[k] = median_field(reps, n, offsetof(struct result, lat_ns) + k * sizeof(double));
    for (unsigned k = 0; k < out->nextra; k++)
        out->extra[k].value = median_field(reps, n, offsetof(struct result, extra) +
                                                        k * sizeof(struct metric) +
                                                        offsetof(struct metric, value));
}

void report_cpu_model(char *buf, size_t size)
{
    snprintf(buf, size, "unknown");
    FILE *f = fopen("/proc/cpuinfo", "r");
    if (!f)
        return;
    char line[256];
    while (fgets(line, sizeof(line), f)) {
        char *colon = strchr(line, ':');
        if (strncmp(line, "model name", 10) == 0 && colon) {
            snprintf(buf, size, "%s", colon + 2);
            buf[strcspn(buf, "\n")] = 0;
            break;
        }
    }
    fclose(f);
}

static void json_result(FILE *out, const struct result *r)
{
    const struct run_params *p = &r->params;
    static const char *const waits[] = {"spin", "yield", "park"};
    fprintf(out,
            "{\"system\":\"%s\",\"scenario\":\"%s\",\"producers\":%u,\"workers\":%u,"
            "\"subs\":%u,\"topics\":%u,\"payload\":%u,\"wait\":\"%s\",\"ok\":%s,"
            "\"implausible\":%s,\"skipped\":%s,\"note\":\"%s\",\"published\":%llu,"
            "\"expected\":%llu,\"handled\":%llu,\"seconds\":%.6f,\"events_per_s\":%.1f",
            r->system, r->scenario, p->producers, p->workers, p->subs, p->topics, p->payload,
            waits[p->wait], r->ok ? "true" : "false", r->implausible ? "true" : "false",
            r->skipped ? "true" : "false", r->note,
            (unsigned long long)r->published, (unsigned long long)r->expected,
            (unsigned long long)r->handled, r->seconds, r->rate);
    if (r->has_latency) {
        fprintf(out, ",\"latency_ns\":{");
        for (unsigned k = 0; k < LAT_COUNT; k++)
            fprintf(out, "%s\"%s\":%.1f", k ? "," : "", lat_names[k], r->lat_ns[k]);
        fputc('}', out);
    }
    fprintf(out, ",\"extra\":{");
    for (unsigned k = 0; k < r->nextra; k++)
        fprintf(out, "%s\"%s\":%.6g", k ? "," : "", r->extra[k].key, r->extra[k].value);
    fprintf(out, "}}");
}

int report_json(const char *path, const struct result *rs, unsigned n, unsigned repeat)
{
    FILE *out = fopen(path, "w");
    if (!out)
        return -1;
    char cpu[128];
    double load[3] = {0, 0, 0};
    report_cpu_model(cpu, sizeof(cpu));
    getloadavg(load, 3); /* other work on the machine shows here */
    fprintf(out,
            "{\"machine\":{\"cpu\":\"%s\",\"cores\":%ld,\"loadavg_at_end\":[%.2f,%.2f,%.2f]},"
            "\"repeat\":%u,\"results\":[\n",
            cpu, sysconf(_SC_NPROCESSORS_ONLN), load[0], load[1], load[2], repeat);
    for (unsigned i = 0; i < n; i++) {
        json_result(out, &rs[i]);
        fputs(i + 1 < n ? ",\n" : "\n", out);
    }
    fputs("]}\n", out);
    return fclose(out) == 0 ? 0 : -1;
}
