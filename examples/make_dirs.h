#ifndef ATTN_EXAMPLES_MAKE_DIRS_H
#define ATTN_EXAMPLES_MAKE_DIRS_H
/* mkdir -p for the programs' output directories (runs/GAME needs runs/ too): 0, or -1 with errno set. */
int make_dirs(const char *path);
#endif
