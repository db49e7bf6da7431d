/* report.h - printing results as a table and as JSON, and combining
 * repetitions into medians. */
#ifndef BENCH_REPORT_H
#define BENCH_REPORT_H

#include <stdio.h>

#include "harness.h"

void report_table_header(FILE *out);
void report_table_row(FILE *out, const struct result *r);

/* The median of each measured field over @n repetitions of one run; ok only
 * if every repetition was. */
void report_median(const struct result *reps, unsigned n, struct result *out);

/* Writes {"machine": ..., "results": [...]} to @path, one result a line. */
int report_json(const char *path, const struct result *rs, unsigned n, unsigned repeat);

/* "AMD EPYC ..." from /proc/cpuinfo, into @buf. */
void report_cpu_model(char *buf, size_t size);

#endif
