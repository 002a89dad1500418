/* SPDX-License-Identifier: MIT */
/*
 * The fuzz harness without libFuzzer, for CTest on any compiler: with file
 * arguments it replays each (a crash reproducer, a corpus entry); without,
 * it feeds LLVMFuzzerTestOneInput() a fixed pseudo-random stream -- same
 * seed, same inputs, every run -- of bounded count and length. Fewer
 * inputs under Valgrind (LIBMSIX_UNDER_VALGRIND=1).
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static uint64_t rng = 0x9e3779b97f4a7c15ull;

static uint64_t next(void)
{
	/* xorshift64* */
	rng ^= rng >> 12;
	rng ^= rng << 25;
	rng ^= rng >> 27;
	return rng * 0x2545f4914f6cdd1dull;
}

static int replay(const char *path)
{
	FILE *f = fopen(path, "rb");
	uint8_t *buf;
	long len;

	if (!f || fseek(f, 0, SEEK_END) || (len = ftell(f)) < 0 ||
	    fseek(f, 0, SEEK_SET)) {
		perror(path);
		if (f)
			fclose(f);
		return 1;
	}
	buf = malloc(len ? (size_t)len : 1);
	if (!buf || fread(buf, 1, (size_t)len, f) != (size_t)len) {
		perror(path);
		free(buf);
		fclose(f);
		return 1;
	}
	fclose(f);
	LLVMFuzzerTestOneInput(buf, (size_t)len);
	free(buf);
	return 0;
}

int main(int argc, char **argv)
{
	const char *vg = getenv("LIBMSIX_UNDER_VALGRIND");
	const char *last = getenv("FUZZ_MSIX_LAST");
	unsigned count = vg && strcmp(vg, "0") ? 600 : 6000;
	uint8_t buf[2048];

	if (argc > 1) {
		for (int i = 1; i < argc; i++)
			if (replay(argv[i]))
				return 1;
		return 0;
	}
	for (unsigned i = 0; i < count; i++) {
		size_t len = next() % sizeof(buf);

		for (size_t j = 0; j < len; j++)
			buf[j] = (uint8_t)next();
		/* FUZZ_MSIX_LAST=file: keep the input being run, so that an
		 * abort leaves its reproducer behind. */
		if (last) {
			FILE *f = fopen(last, "wb");

			if (!f || fwrite(buf, 1, len, f) != len || fclose(f)) {
				perror(last);
				return 1;
			}
		}
		LLVMFuzzerTestOneInput(buf, len);
	}
	printf("fuzz_msix: %u pseudo-random inputs, all invariants held\n",
	       count);
	return 0;
}
