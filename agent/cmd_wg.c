// SPDX-License-Identifier: MIT
#include <stdio.h>

#include "agent.h"

int cmd_wg(int argc, char **argv)
{
	fprintf(stderr, "wgfleet-agent wg: not implemented yet\n");
	return 1;
}
