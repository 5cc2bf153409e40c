// SPDX-License-Identifier: MIT
/*
 * wgf-genconf: writes a deterministic wg(8) configuration with N peers, for conformance
 * tests and benchmarks. Peer keys are pseudo-random 32-byte strings (both the kernel and
 * wireguard-go accept any 32 bytes as a peer key); allowed IPs never repeat across peers,
 * so the kernel never silently moves a prefix from one peer to another.
 *
 * --variant applies a fixed set of changes for syncconf tests: peer 0 removed, peer 1's
 * allowed IPs changed, peer 2's endpoint changed, peer 3 given a new preshared key,
 * peer 5's keepalive set to 33, and two new peers appended.
 */
#include <getopt.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "wgkey.h"

static uint64_t splitmix64(uint64_t *s)
{
	uint64_t z = (*s += 0x9e3779b97f4a7c15ULL);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

static void make_key(uint64_t seed, uint64_t index, uint64_t kind, uint8_t key[WG_KEY_LEN])
{
	uint64_t s = seed * 1000003ULL ^ index * 7919ULL ^ kind << 56;

	for (unsigned i = 0; i < WG_KEY_LEN; i += 8) {
		uint64_t v = splitmix64(&s);
		memcpy(key + i, &v, 8);
	}
}

static void print_key(const char *name, uint64_t seed, uint64_t index, uint64_t kind)
{
	uint8_t key[WG_KEY_LEN];
	char b64[WG_KEY_B64_LEN];

	make_key(seed, index, kind, key);
	wg_key_to_base64(b64, key);
	printf("%s = %s\n", name, b64);
}

static void usage(void)
{
	fprintf(stderr, "Usage: wgf-genconf --peers N [--v4 K] [--v6 K] [--seed S]\n"
			"         [--psk-every M] [--endpoint-every M] [--keepalive-every M]\n"
			"         [--subnet-every M] [--private-key] [--listen-port P] [--variant]\n");
}

int main(int argc, char **argv)
{
	unsigned long peers = 0, v4 = 1, v6 = 0, seed = 1, psk_every = 0, ep_every = 0;
	unsigned long ka_every = 0, subnet_every = 0, listen_port = 0;
	int private_key = 0, variant = 0;
	static const struct option opts[] = {
		{"peers", required_argument, NULL, 'n'},
		{"v4", required_argument, NULL, '4'},
		{"v6", required_argument, NULL, '6'},
		{"seed", required_argument, NULL, 's'},
		{"psk-every", required_argument, NULL, 'p'},
		{"endpoint-every", required_argument, NULL, 'e'},
		{"keepalive-every", required_argument, NULL, 'k'},
		{"subnet-every", required_argument, NULL, 'b'},
		{"private-key", no_argument, NULL, 'K'},
		{"listen-port", required_argument, NULL, 'l'},
		{"variant", no_argument, NULL, 'V'},
		{},
	};
	int c;

	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (c) {
		case 'n': peers = strtoul(optarg, NULL, 10); break;
		case '4': v4 = strtoul(optarg, NULL, 10); break;
		case '6': v6 = strtoul(optarg, NULL, 10); break;
		case 's': seed = strtoul(optarg, NULL, 10); break;
		case 'p': psk_every = strtoul(optarg, NULL, 10); break;
		case 'e': ep_every = strtoul(optarg, NULL, 10); break;
		case 'k': ka_every = strtoul(optarg, NULL, 10); break;
		case 'b': subnet_every = strtoul(optarg, NULL, 10); break;
		case 'K': private_key = 1; break;
		case 'l': listen_port = strtoul(optarg, NULL, 10); break;
		case 'V': variant = 1; break;
		default: usage(); return 2;
		}
	}
	if (peers == 0 || peers > 1000000 || v4 > 16 || v6 > 16 || (variant && peers < 6)) {
		usage();
		return 2;
	}
	if (peers * v4 >= (1UL << 24) - 2) {
		fprintf(stderr, "wgf-genconf: too many IPv4 addresses\n");
		return 2;
	}

	printf("[Interface]\n");
	if (private_key)
		print_key("PrivateKey", seed, 0, 1);
	if (listen_port)
		printf("ListenPort = %lu\n", listen_port);

	unsigned long total = peers + (variant ? 2 : 0);
	for (unsigned long i = 0; i < total; i++) {
		if (variant && i == 0)
			continue;
		printf("\n[Peer]\n");
		print_key("PublicKey", seed, i, 2);
		if (variant && i == 3)
			print_key("PresharedKey", seed, i, 4);
		else if (psk_every && i % psk_every == 0)
			print_key("PresharedKey", seed, i, 3);
		/* A peer's IPs come from a base that --variant moves for peer 1 only. */
		unsigned long base = variant && i == 1 ? (1UL << 23) + i * v4 : i * v4;
		printf("AllowedIPs = ");
		for (unsigned long j = 0; j < v4; j++) {
			unsigned long a = base + j + 1;
			printf("%s10.%lu.%lu.%lu/32", j ? ", " : "", a >> 16 & 255, a >> 8 & 255,
			       a & 255);
		}
		for (unsigned long j = 0; j < v6; j++)
			printf("%sfd00:%lx::%lx:%lx/128", v4 + j ? ", " : "",
			       variant && i == 1 ? 0xbeefUL : 0UL, i, j + 1);
		if (subnet_every && i % subnet_every == 0 && i < 60000)
			printf("%s172.%lu.%lu.0/24, fd01:%lx::/64", v4 + v6 ? ", " : "",
			       16 + i / 256, i % 256, i);
		printf("\n");
		if ((ep_every && i % ep_every == 0) || (variant && i == 2)) {
			unsigned long port = 10000 + i % 50000 + (variant && i == 2 ? 1 : 0);
			if (i % 2)
				printf("Endpoint = [fd99::%lx]:%lu\n", i, port);
			else
				printf("Endpoint = 198.18.%lu.%lu:%lu\n", i >> 8 & 255, i & 255, port);
		}
		if (variant && i == 5)
			printf("PersistentKeepalive = 33\n");
		else if (ka_every && i % ka_every == 0)
			printf("PersistentKeepalive = 25\n");
	}
	return fflush(stdout) == 0 ? 0 : 1;
}
