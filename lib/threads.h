/* How many threads the library computes with (see ATTN_CFG_THREADS in the public header). */
#ifndef ATTN_THREADS_H
#define ATTN_THREADS_H

/* The thread count `requested` resolves to: itself if positive, else $ATTN_NUM_THREADS if it is a positive
 * integer, else the number of online CPUs. */
int threads_resolve(int requested);

/* Sets the BLAS thread pool to `n` threads (process-wide; a no-op for a BLAS without that knob). */
void threads_apply(int n);

#endif
