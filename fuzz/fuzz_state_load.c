// SPDX-License-Identifier: MIT
/*
 * The journal loader of the agent's durable record (agent/state_codec.c), which parses a
 * file that may be damaged. Two kinds of input, by the low bit of the first byte:
 *
 *   1  raw: the rest is a journal file, loaded as is (header, frame scan, torn tail vs.
 *      corruption, every operation decoder);
 *   0  framed: the rest is a list of chunks (le16 length, bytes); each becomes one frame
 *      with a correct CRC after a valid header, so the fuzzer reaches the operation
 *      decoders and the apply logic instead of fighting CRC-32C. The second byte then
 *      damages the end of the file (cut it, flip a bit, append bytes) to exercise the
 *      torn-tail rules with valid frames before.
 *
 * Whatever the input: no crash, no leak, no undefined behaviour, and if the load succeeds
 * the model passes state_model_check() (no address on two peers), its snapshot loads to
 * an equal model, and the snapshot of that is byte-identical. In framed mode a second
 * model applies each frame as a commit would (undoable): a refused frame must leave it
 * exactly as before, an accepted one is rolled back and applied again on every other
 * frame, and where the load succeeded both models are equal.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* Included (as the other harnesses do) so the fuzzer sees the loader's code directly. */
#include "state_codec.c"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define FZ_FILE_ID UINT64_C(0x0123456789abcdef)
#define FZ_MAX_FRAMES 64

struct fz_buf {
	uint8_t *p;
	size_t len, cap;
};

static int fz_write(const void *data, size_t len, void *userdata)
{
	struct fz_buf *b = userdata;

	if (b->len + len > b->cap) {
		size_t cap = (b->len + len) * 2;
		uint8_t *p = realloc(b->p, cap);

		if (!p)
			abort();
		b->p = p;
		b->cap = cap;
	}
	memcpy(b->p + b->len, data, len);
	b->len += len;
	return 0;
}

static struct fz_buf fz_snapshot(const struct state_model *m)
{
	struct fz_buf b = {0};

	if (state_model_snapshot(m, FZ_FILE_ID, fz_write, &b) != 0)
		abort();
	return b;
}

static struct state_model *fz_load(const uint8_t *p, size_t len, int *ret)
{
	struct state_load_info info;
	struct state_model *m = NULL;

	if (state_model_new(&m) < 0)
		abort();
	*ret = state_model_load(m, p, len, &info, NULL);
	if (*ret == 0 && info.offset > len)
		abort();
	if (*ret == 0 && info.torn_tail && info.offset + info.torn_bytes != len)
		abort();
	return m;
}

/* The invariants of a successfully loaded model. */
static void fz_check_model(const struct state_model *m)
{
	struct fz_buf s1, s2;
	struct state_model *m2;
	int r;

	if (state_model_check(m) != 0)
		abort();
	s1 = fz_snapshot(m);
	m2 = fz_load(s1.p, s1.len, &r);
	if (r != 0 || !state_model_equal(m, m2))
		abort();
	s2 = fz_snapshot(m2);
	if (s1.len != s2.len || memcmp(s1.p, s2.p, s1.len) != 0)
		abort();
	free(s1.p);
	free(s2.p);
	state_model_free(m2);
}

static void fz_raw(const uint8_t *data, size_t size)
{
	int r;
	struct state_model *m = fz_load(data, size, &r);

	if (r == 0)
		fz_check_model(m);
	state_model_free(m);
}

static void fz_header(struct fz_buf *b)
{
	uint8_t h[STATE_HEADER_SIZE] = {0};

	memcpy(h, header_magic, sizeof(header_magic));
	put_le32(h + 8, STATE_FORMAT_VERSION);
	put_le32(h + 12, STATE_HEADER_SIZE);
	put_le64(h + 16, FZ_FILE_ID);
	put_le32(h + 28, state_crc32c(0, h, 28));
	fz_write(h, sizeof(h), b);
}

static void fz_frame(struct fz_buf *b, const uint8_t *payload, size_t n)
{
	uint8_t h[STATE_FRAME_HEADER_SIZE];

	put_le32(h, STATE_FRAME_MAGIC);
	put_le32(h + 4, (uint32_t)n);
	put_le32(h + 8, frame_crc(FZ_FILE_ID, h + 4, payload, n));
	fz_write(h, sizeof(h), b);
	fz_write(payload, n, b);
}

/*
 * Apply one frame as a commit does, checking the undo log against a copy of the model:
 * refused, or accepted and (retry) rolled back, the model must be what it was.
 */
static int fz_commit(struct state_model *m, const uint8_t *p, size_t n, bool retry)
{
	struct fz_buf before = fz_snapshot(m);
	struct state_model *copy;
	int r, r2;

	r = state_model_apply(m, p, n, true, NULL);
	if (r < 0 || retry) {
		state_model_rollback(m);
		copy = fz_load(before.p, before.len, &r2);
		if (r2 != 0 || !state_model_equal(m, copy) || state_model_check(m) != 0)
			abort();
		state_model_free(copy);
		if (r == 0 && state_model_apply(m, p, n, true, NULL) != 0)
			abort();
	}
	if (r == 0)
		state_model_settle(m);
	if (state_model_check(m) != 0)
		abort();
	free(before.p);
	return r;
}

static void fz_framed(const uint8_t *data, size_t size)
{
	struct fz_buf file = {0};
	struct state_model *m, *inc;
	uint8_t action = size ? data[0] : 0;
	size_t off = size ? 1 : 0, frames = 0;
	bool refused = false;
	int r;

	if (state_model_new(&inc) < 0)
		abort();
	fz_header(&file);
	while (size - off >= 2 && frames < FZ_MAX_FRAMES) {
		size_t n = (size_t)data[off] | (size_t)data[off + 1] << 8;

		off += 2;
		if (n > size - off)
			n = size - off;
		if (n == 0)
			continue;
		fz_frame(&file, data + off, n);
		/* As load does: stop at the first frame the state refuses. */
		if (!refused)
			refused = fz_commit(inc, data + off, n, frames % 2 == 1) < 0;
		off += n;
		frames++;
	}

	/* Damage the end of the file. */
	switch (action & 3) {
	case 1: /* cut */
		if (file.len > STATE_HEADER_SIZE)
			file.len -= 1 + (action >> 2) % (file.len - STATE_HEADER_SIZE);
		break;
	case 2: /* flip a bit near the end */
		if (file.len > STATE_HEADER_SIZE)
			file.p[file.len - 1 - (action >> 2) % (file.len - STATE_HEADER_SIZE)] ^=
				(uint8_t)(1U << (action & 7));
		break;
	case 3: /* append bytes: zeros, or a copy of the file's beginning */
		for (uint8_t i = 0; i < (action >> 2); i++) {
			uint8_t c = action & 0x80 ? file.p[i % file.len] : 0;

			fz_write(&c, 1, &file);
		}
		break;
	}

	m = fz_load(file.p, file.len, &r);
	if (r == 0) {
		fz_check_model(m);
		/* Undamaged and nothing refused: replay and the commit path agree. */
		if ((action & 3) == 0 && !refused && !state_model_equal(m, inc))
			abort();
	} else if ((action & 3) == 0 && r != -EBADMSG && r != -EUCLEAN && r != -ENOMEM) {
		abort();
	}
	state_model_free(m);
	state_model_free(inc);
	free(file.p);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size == 0)
		return 0;
	if (data[0] & 1)
		fz_raw(data + 1, size - 1);
	else
		fz_framed(data + 1, size - 1);
	return 0;
}
