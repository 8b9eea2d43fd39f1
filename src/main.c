/* main.c - the agora program: node and client in one binary. Only wiring. */
#include "cli/cli.h"

int main(int argc, char **argv)
{
    return cli_main(argc, argv);
}
