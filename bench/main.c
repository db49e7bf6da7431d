/* main.c - bus-bench: run scenarios on systems, print a table, write JSON. */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hist.h"
#include "report.h"
#include "scenarios.h"

enum { MAX_THREADS = 256, MAX_SUBS_TOTAL = FIXTURE_MAX_SUBS, MAX_PAYLOAD = 65536 };

struct cli {
    const char *system, *scenario, *json;
    unsigned repeat;
    struct run_params p;
};

static void usage(FILE *out)
{
    fprintf(out,
            "usage: bus-bench [--system NAMES|all] [--scenario NAMES|all] [--producers N]\n"
            "                 [--workers N] [--subs N] [--topics N] [--payload BYTES]\n"
            "                 [--events N | --seconds S] [--rate EV/S] [--wait spin|yield|park]\n"
            "                 [--pin] [--repeat N] [--json FILE] [--quick] [--watch]\n"
            "NAMES is one name or a comma-separated list. --repeat N reports the median of\n"
            "N runs. --quick runs everything briefly and fails on any lost or extra event.\n"
            "--watch shows the bus's own view once a second on stderr while it runs: each\n"
            "topic's publish rate, depth, p99 wait and p99 handler call (bus systems only).\n"
            "systems:");
    for (const struct sut_ops *const *s = sut_systems; *s; s++)
        fprintf(out, "\n  %-7s %s", (*s)->name, (*s)->summary);
    fprintf(out, "\nscenarios:");
    for (const struct scenario *s = scenarios; s->name; s++)
        fprintf(out, "\n  %-20s %s", s->name, s->summary);
    fputc('\n', out);
}

static int bad_option(const char *fmt, const char *arg)
{
    fprintf(stderr, "bus-bench: ");
    fprintf(stderr, fmt, arg);
    fprintf(stderr, "\nTry 'bus-bench --help'.\n");
    return 2;
}

/* Parses an unsigned integer in [min, max]; false if @arg is not one. */
static bool parse_uint(const char *arg, uint64_t min, uint64_t max, uint64_t *out)
{
    char *end;
    errno = 0;
    if (!arg[0] || arg[0] == '-')
        return false;
    unsigned long long v = strtoull(arg, &end, 10);
    if (errno || *end || v < min || v > max)
        return false;
    *out = v;
    return true;
}

static bool parse_positive(const char *arg, double *out)
{
    char *end;
    errno = 0;
    double v = strtod(arg, &end);
    if (errno || *end || end == arg || !(v > 0) || v > 1e12)
        return false;
    *out = v;
    return true;
}

static bool parse_wait(const char *arg, enum sut_wait *out)
{
    static const char *const names[] = {"spin", "yield", "park"};
    for (int i = 0; i < 3; i++) {
        if (strcmp(arg, names[i]) == 0) {
            *out = (enum sut_wait)i;
            return true;
        }
    }
    return false;
}

enum opt { OPT_SYSTEM = 256, OPT_SCENARIO, OPT_PRODUCERS, OPT_WORKERS, OPT_SUBS, OPT_TOPICS,
           OPT_PAYLOAD, OPT_EVENTS, OPT_SECONDS, OPT_RATE, OPT_WAIT, OPT_PIN, OPT_JSON,
           OPT_QUICK, OPT_REPEAT, OPT_WATCH, OPT_HELP };

static const struct option options[] = {
    {"system", required_argument, NULL, OPT_SYSTEM},
    {"scenario", required_argument, NULL, OPT_SCENARIO},
    {"producers", required_argument, NULL, OPT_PRODUCERS},
    {"workers", required_argument, NULL, OPT_WORKERS},
    {"subs", required_argument, NULL, OPT_SUBS},
    {"topics", required_argument, NULL, OPT_TOPICS},
    {"payload", required_argument, NULL, OPT_PAYLOAD},
    {"events", required_argument, NULL, OPT_EVENTS},
    {"seconds", required_argument, NULL, OPT_SECONDS},
    {"rate", required_argument, NULL, OPT_RATE},
    {"wait", required_argument, NULL, OPT_WAIT},
    {"pin", no_argument, NULL, OPT_PIN},
    {"json", required_argument, NULL, OPT_JSON},
    {"quick", no_argument, NULL, OPT_QUICK},
    {"repeat", required_argument, NULL, OPT_REPEAT},
    {"watch", no_argument, NULL, OPT_WATCH},
    {"help", no_argument, NULL, OPT_HELP},
    {NULL, 0, NULL, 0},
};

static const char *option_name(int opt)
{
    for (const struct option *o = options; o->name; o++)
        if (o->val == opt)
            return o->name;
    return "?";
}

/* Applies one numeric option; false if its value is out of range. */
static bool set_number(struct cli *c, int opt, const char *arg)
{
    uint64_t v = 0;
    switch (opt) {
    case OPT_PRODUCERS:
        return parse_uint(arg, 1, MAX_THREADS, &v) && (c->p.producers = (unsigned)v);
    case OPT_WORKERS:
        return parse_uint(arg, 1, MAX_THREADS, &v) && (c->p.workers = (unsigned)v);
    case OPT_SUBS:
        return parse_uint(arg, 1, MAX_SUBS_TOTAL, &v) && (c->p.subs = (unsigned)v);
    case OPT_TOPICS:
        return parse_uint(arg, 1, MAX_SUBS_TOTAL, &v) && (c->p.topics = (unsigned)v);
    case OPT_PAYLOAD:
        if (!parse_uint(arg, 0, MAX_PAYLOAD, &v))
            return false;
        c->p.payload = (uint32_t)v;
        return true;
    case OPT_EVENTS:
        return parse_uint(arg, 1, UINT64_C(1) << 40, &c->p.events);
    case OPT_REPEAT:
        return parse_uint(arg, 1, 99, &v) && (c->repeat = (unsigned)v);
    case OPT_SECONDS:
        return parse_positive(arg, &c->p.seconds);
    default: /* OPT_RATE */
        return parse_positive(arg, &c->p.rate);
    }
}

/* True when @name is in @list: "all", or names separated by commas. */
static bool selected(const char *list, const char *name)
{
    if (strcmp(list, "all") == 0)
        return true;
    size_t len = strlen(name);
    for (const char *p = list; p; p = strchr(p, ',') ? strchr(p, ',') + 1 : NULL)
        if (strncmp(p, name, len) == 0 && (p[len] == ',' || p[len] == '\0'))
            return true;
    return false;
}

/* The first name of @list that @known does not find, or NULL. */
static const char *unknown_name(const char *list, bool (*known)(const char *name),
                                char *buf, size_t size)
{
    if (strcmp(list, "all") == 0)
        return NULL;
    for (const char *p = list; p; p = strchr(p, ',') ? strchr(p, ',') + 1 : NULL) {
        size_t len = strcspn(p, ",");
        snprintf(buf, size, "%.*s", (int)len, p);
        if (!known(buf))
            return buf;
    }
    return NULL;
}

static bool is_system(const char *name)
{
    return sut_find(name) != NULL;
}

static bool is_scenario(const char *name)
{
    return scenario_find(name) != NULL;
}

static int check_names(const struct cli *c)
{
    char buf[64];
    const char *bad = unknown_name(c->system, is_system, buf, sizeof(buf));
    if (bad)
        return bad_option("unknown system '%s' (see --help; optional peers need their "
                          "library at build time)", bad);
    bad = unknown_name(c->scenario, is_scenario, buf, sizeof(buf));
    if (bad)
        return bad_option("unknown scenario '%s' (see --help)", bad);
    if (c->p.events && c->p.seconds > 0)
        return bad_option("%s", "--events and --seconds exclude each other");
    if (c->p.topics * c->p.subs > MAX_SUBS_TOTAL)
        return bad_option("%s", "--topics times --subs must be at most 1024");
    return 0;
}

/* Returns 0, or the exit status for a bad command line (-1: --help). */
static int parse_args(int argc, char **argv, struct cli *c)
{
    *c = (struct cli){.system = "all", .scenario = "all", .repeat = 1,
                      .p = {.producers = 1, .workers = 1, .subs = 1, .topics = 1, .payload = 32,
                            .wait = SUT_WAIT_PARK}};
    int opt;
    opterr = 0;
    while ((opt = getopt_long(argc, argv, "", options, NULL)) != -1) {
        switch (opt) {
        case OPT_SYSTEM: c->system = optarg; break;
        case OPT_SCENARIO: c->scenario = optarg; break;
        case OPT_JSON: c->json = optarg; break;
        case OPT_PIN: c->p.pin = true; break;
        case OPT_QUICK: c->p.quick = true; break;
        case OPT_WATCH: c->p.watch = true; break;
        case OPT_HELP: usage(stdout); return -1;
        case OPT_WAIT:
            if (!parse_wait(optarg, &c->p.wait))
                return bad_option("--wait must be spin, yield or park, not '%s'", optarg);
            break;
        case '?':
            return bad_option("unknown or incomplete option '%s'", argv[optind - 1]);
        default:
            if (!set_number(c, opt, optarg)) {
                fprintf(stderr, "bus-bench: --%s: bad value '%s' (not a number, or out of "
                                "range; see --help)\n", option_name(opt), optarg);
                return 2;
            }
        }
    }
    if (optind < argc)
        return bad_option("unexpected argument '%s'", argv[optind]);
    return check_names(c);
}

/* One system x scenario pair and its repetitions. */
struct job {
    const struct sut_ops *ops;
    const struct scenario *scn;
    struct result *reps;
};

static void run_rep(const struct cli *c, const struct job *j, struct result *r)
{
    *r = (struct result){.system = j->ops->name, .scenario = j->scn->name, .ok = true,
                         .params = scenario_params(j->scn, &c->p)};
    if (j->ops->max_payload && c->p.payload > j->ops->max_payload) {
        r->skipped = true;
        snprintf(r->note, sizeof(r->note), "payload over %zu bytes", j->ops->max_payload);
        return;
    }
    if (!scenario_applies(j->scn, j->ops, r))
        return;
    j->scn->run(j->ops, &r->params, r);
    result_check_measured(r);
}

/* The pairs the command line selects, with room for their repetitions. */
static struct job *plan_jobs(const struct cli *c, size_t *count)
{
    size_t n = 0, most = 1;
    for (const struct sut_ops *const *sys = sut_systems; *sys; sys++)
        for (const struct scenario *s = scenarios; s->name; s++)
            most++;
    struct job *jobs = calloc(most, sizeof(*jobs));
    for (const struct sut_ops *const *sys = sut_systems; jobs && *sys; sys++)
        for (const struct scenario *s = scenarios; s->name; s++)
            if (selected(c->system, (*sys)->name) && selected(c->scenario, s->name))
                jobs[n++] = (struct job){*sys, s, calloc(c->repeat, sizeof(struct result))};
    *count = n;
    return jobs;
}

int main(int argc, char **argv)
{
    struct cli c;
    int rc = parse_args(argc, argv, &c);
    if (rc)
        return rc < 0 ? 0 : rc;
    unsigned failures = 0;
    if (c.p.quick) {
        double err = hist_self_check();
        printf("histogram self-check: worst value error %.3f%% (limit 1%%)\n", err * 100);
        failures += err > 0.01;
    }
    size_t njobs;
    struct job *jobs = plan_jobs(&c, &njobs);
    struct result *results = calloc(njobs ? njobs : 1, sizeof(*results));
    if (!jobs || !results)
        return 1;
    /* Repetitions outer, so that a disturbance (another process on the
     * machine) hits every system alike instead of one system's whole run. */
    for (unsigned rep = 0; rep < c.repeat; rep++) {
        for (size_t i = 0; i < njobs; i++) {
            run_rep(&c, &jobs[i], &jobs[i].reps[rep]);
            if (c.repeat > 1)
                fprintf(stderr, "rep %u/%u %s %s done\n", rep + 1, c.repeat,
                        jobs[i].ops->name, jobs[i].scn->name);
        }
    }
    report_table_header(stdout);
    unsigned implausible = 0;
    for (size_t i = 0; i < njobs; i++) {
        report_median(jobs[i].reps, c.repeat, &results[i]);
        if (jobs[i].scn->judge && results[i].ok && !results[i].skipped)
            jobs[i].scn->judge(&results[i]);
        report_table_row(stdout, &results[i]);
        failures += !results[i].ok && !results[i].skipped;
        implausible += results[i].implausible;
    }
    size_t n = njobs;
    if (c.json && report_json(c.json, results, (unsigned)n, c.repeat)) {
        fprintf(stderr, "bus-bench: cannot write %s: %s\n", c.json, strerror(errno));
        failures++;
    }
    for (size_t i = 0; i < njobs; i++)
        free(jobs[i].reps);
    free(jobs);
    free(results);
    if (implausible)
        fprintf(stderr, "bus-bench: %u result(s) implausible, rerun them (see odd rows)\n",
                implausible);
    if (failures)
        fprintf(stderr, "bus-bench: %u run(s) failed (see FAIL rows)\n", failures);
    return failures ? 1 : 0;
}
