/* `cltrain plot`: the loss curves of a metrics file as a PNG, drawn by gnuplot. */
#ifndef CLTRAIN_PLOT_H
#define CLTRAIN_PLOT_H

/* Reads the JSON Lines metrics (train and val records) and writes out_png. Returns the
 * exit status: 0, or 1 with the reason on stderr (unreadable or empty metrics, a line
 * that is not a metrics record — named by its number —, gnuplot missing or failing). */
int plot_run(const char *metrics_path, const char *out_png);

#endif
