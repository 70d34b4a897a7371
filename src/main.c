/* SPDX-License-Identifier: MIT */
/* main.c -- the hearth binary: everything happens in src/cli. */
#include "cli/cli.h"

int main(int argc, char **argv)
{
    return hr_cli_main(argc, argv);
}
