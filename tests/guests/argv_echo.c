/* Prints its argv: shows which program ran and with which arguments. */
#include <stdio.h>
int main(int c, char **v) { printf("fakesh argc=%d", c); for (int i = 0; i < c; i++) printf(" [%s]", v[i]); printf("\n"); return 0; }
