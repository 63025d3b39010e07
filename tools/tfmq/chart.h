/* chart.h: a grouped bar chart written as a PNG (libpng), with axes, tick labels, a title and
 * a legend drawn in an embedded 5x7 bitmap font. Output is deterministic: the same values give
 * the same bytes. Used by `tfmq bench --chart`. */
#ifndef TFMQ_CLI_CHART_H
#define TFMQ_CLI_CHART_H

#include "cli_util.h"
#include "tfmq.h"

#include <stdbool.h>
#include <stddef.h>

/* values[g * n_series + s] is the bar of series s in group g; NaN or negative: no bar.
 * Writes `path` atomically (an existing file is kept unless overwrite). Strings are drawn in
 * ASCII; other bytes show as '?'.
 * @return TFMQ_OK, or TFMQ_ERR_INVALID_ARG / _OUT_OF_MEMORY / _IO / _INTERNAL (libpng). */
tfmq_status chart_bar_png(const char *path, const char *title, const char *y_label,
                          const char *const *group_labels, size_t n_groups,
                          const char *const *series_names, size_t n_series, const double *values,
                          bool overwrite, cli_err *e);

#endif /* TFMQ_CLI_CHART_H */
