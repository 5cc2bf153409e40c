// SPDX-License-Identifier: MIT
/*
 * wgfleet-agentd: the node agent daemon, started by `wgfleet-agent run` (which execs it)
 * or directly with the same arguments: `wgfleet-agentd --config FILE`.
 */
#include "agent.h"

int main(int argc, char **argv)
{
	return cmd_run(argc, argv);
}
