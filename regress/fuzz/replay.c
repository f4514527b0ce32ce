/*
 * Replay driver for the fuzz targets in ordinary test runs.  It feeds
 * LLVMFuzzerTestOneInput() every file of the target's corpus (FUZZ_CORPUS,
 * a directory; a missing one is fine), then a fixed-seed stream of random
 * inputs and of mutations of the corpus files, so a run is reproducible.
 * A crash or a sanitizer report fails the test; `make fuzz` links the same
 * targets with libFuzzer's main instead of this one.
 */
#include <sys/types.h>

#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#ifndef FUZZ_CORPUS
#define FUZZ_CORPUS	"corpus"
#endif

#define NRANDOM		20000
#define MAXLEN		4096		/* of a generated input */
#define MAXFILE		(1024 * 1024)	/* of a corpus file */

struct input {
	uint8_t		*data;
	size_t		 len;
};

int		 LLVMFuzzerTestOneInput(const uint8_t *, size_t);

static uint32_t	 rnd(void);
static void	 run(const uint8_t *, size_t);
static size_t	 load_corpus(const char *, struct input **);
static size_t	 mutate(uint8_t *, const struct input *, size_t);

static uint64_t	 rnd_state = 0x696d617078ULL;	/* "imapx": fixed seed */

/* splitmix64: small, good enough, same sequence everywhere */
static uint32_t
rnd(void)
{
	uint64_t	z;

	z = (rnd_state += 0x9e3779b97f4a7c15ULL);
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return (z ^ (z >> 31)) >> 32;
}

/* Each input in a buffer of its exact size, so overreads are caught. */
static void
run(const uint8_t *data, size_t len)
{
	uint8_t	*copy;

	if ((copy = malloc(len > 0 ? len : 1)) == NULL) {
		perror("malloc");
		exit(1);
	}
	if (len > 0)
		memcpy(copy, data, len);
	LLVMFuzzerTestOneInput(copy, len);
	free(copy);
}

static size_t
load_corpus(const char *dir, struct input **inputs)
{
	struct dirent	**names;
	struct input	 *in;
	char		  path[4096];
	FILE		 *fp;
	int		  i, n;
	size_t		  count = 0;

	*inputs = NULL;
	if ((n = scandir(dir, &names, NULL, alphasort)) == -1)
		return 0;
	if ((*inputs = calloc(n > 0 ? n : 1, sizeof(**inputs))) == NULL) {
		perror("calloc");
		exit(1);
	}
	for (i = 0; i < n; i++) {
		in = &(*inputs)[count];
		if (names[i]->d_name[0] != '.' &&
		    snprintf(path, sizeof(path), "%s/%s", dir,
		    names[i]->d_name) < (int)sizeof(path) &&
		    (fp = fopen(path, "rb")) != NULL) {
			if ((in->data = malloc(MAXFILE)) == NULL) {
				perror("malloc");
				exit(1);
			}
			in->len = fread(in->data, 1, MAXFILE, fp);
			fclose(fp);
			if (in->len > 0 &&
			    (in->data = realloc(in->data, in->len)) == NULL) {
				perror("realloc");
				exit(1);
			}
			run(in->data, in->len);
			count++;
		}
		free(names[i]);
	}
	free(names);
	return count;
}

/* Bit flips, a truncation or a splice of two corpus files. */
static size_t
mutate(uint8_t *buf, const struct input *inputs, size_t n)
{
	const struct input	*a, *b;
	size_t			 len, cut, from, i, flips;

	a = &inputs[rnd() % n];
	len = a->len < MAXLEN ? a->len : MAXLEN;
	memcpy(buf, a->data, len);
	switch (rnd() % 3) {
	case 0:
		flips = 1 + rnd() % 8;
		for (i = 0; len > 0 && i < flips; i++)
			buf[rnd() % len] ^= 1 << (rnd() % 8);
		break;
	case 1:
		len = rnd() % (len + 1);
		break;
	case 2:
		b = &inputs[rnd() % n];
		cut = rnd() % (len + 1);
		from = rnd() % (b->len + 1);
		len = b->len - from;
		if (len > MAXLEN - cut)
			len = MAXLEN - cut;
		memcpy(buf + cut, b->data + from, len);
		len += cut;
		break;
	}
	return len;
}

int
main(void)
{
	static uint8_t	 buf[MAXLEN];
	struct input	*inputs;
	size_t		 ncorpus, len, i, j;

	ncorpus = load_corpus(FUZZ_CORPUS, &inputs);
	for (i = 0; i < NRANDOM; i++) {
		if (ncorpus > 0 && rnd() % 2 == 0)
			len = mutate(buf, inputs, ncorpus);
		else {
			len = rnd() % (MAXLEN + 1);
			for (j = 0; j < len; j++)
				buf[j] = rnd();
		}
		run(buf, len);
	}
	printf("replay: %zu corpus files and %d generated inputs ran\n",
	    ncorpus, NRANDOM);
	for (i = 0; i < ncorpus; i++)
		free(inputs[i].data);
	free(inputs);
	return 0;
}
