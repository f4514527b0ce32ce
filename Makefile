# imapx -- top-level GNU makefile.
#
#   make              build into build/normal
#   make check        build normal and sanitizer (ASan+UBSan) trees, run kyua
#   make demo         build and start the demo mail host on loopback
#   make demo-stop    stop it
#   make install      install programs, man pages and examples (PREFIX, DESTDIR)
#   make fuzz         build libFuzzer targets with clang into build/fuzz

PREFIX?=	/usr/local
SBINDIR?=	$(PREFIX)/sbin
LIBEXECDIR?=	$(PREFIX)/libexec/imapx
MANDIR?=	$(PREFIX)/share/man
SYSCONFDIR?=	/etc/imapx
DESTDIR?=

CC?=		cc
YACC=		byacc
PKGS=		libbsd-overlay libevent libtls libsodium libseccomp
PKG_CFLAGS:=	$(shell pkg-config --cflags $(PKGS) 2>/dev/null)
PKG_LIBS:=	$(shell pkg-config --libs $(PKGS) 2>/dev/null)

WARN=		-Wall -Wextra -Werror -Wno-unused-parameter \
		-Wmissing-prototypes -Wstrict-prototypes -Wshadow -Wpointer-arith
CFLAGS?=	-O2 -g
ALL_CFLAGS=	$(CFLAGS) -std=gnu11 $(WARN) -D_GNU_SOURCE \
		-DSYSCONFDIR=\"$(SYSCONFDIR)\" -DLIBEXECDIR=\"$(LIBEXECDIR)\" \
		-DSBINDIR=\"$(SBINDIR)\" \
		-Icommon -Iimapxd -Iexecd -Isubmitd -I$(B)/gen $(PKG_CFLAGS) $(EXTRA_CFLAGS)
LDLIBS=		$(PKG_LIBS) $(EXTRA_LDFLAGS)

# Build variant: normal or san.
V?=		normal
B?=		build/$(V)
ifeq ($(V),san)
EXTRA_CFLAGS+=	-fsanitize=address,undefined -fno-sanitize-recover=undefined \
		-fno-omit-frame-pointer -DIMAPX_SANITIZE
EXTRA_LDFLAGS+=	-fsanitize=address,undefined
CFLAGS=		-O1 -g
endif

COMMON_SRCS:=	$(wildcard common/*.c)
COMMON_OBJS:=	$(COMMON_SRCS:%.c=$(B)/obj/%.o)
IMAPXD_SRCS:=	$(filter-out imapxd/imapxd.c,$(wildcard imapxd/*.c))
IMAPXD_OBJS:=	$(IMAPXD_SRCS:%.c=$(B)/obj/%.o) \
		$(if $(wildcard imapxd/parse.y),$(B)/obj/imapxd/parse.o)
EXECD_SRCS:=	$(filter-out execd/execd.c,$(wildcard execd/*.c))
EXECD_OBJS:=	$(EXECD_SRCS:%.c=$(B)/obj/%.o) \
		$(if $(wildcard execd/parse.y),$(B)/obj/execd/parse.o)
SUBMITD_SRCS:=	$(filter-out submitd/submitd.c,$(wildcard submitd/*.c))
SUBMITD_OBJS:=	$(SUBMITD_SRCS:%.c=$(B)/obj/%.o) \
		$(if $(wildcard submitd/parse.y),$(B)/obj/submitd/parse.o)
UNIT_SRCS:=	$(wildcard regress/unit/*_test.c)
UNIT_PROGS:=	$(UNIT_SRCS:regress/unit/%.c=$(B)/tests/%)
INTEG_SRCS:=	$(wildcard regress/integration/*_test.sh)
INTEG_PROGS:=	$(INTEG_SRCS:regress/integration/%.sh=$(B)/tests/%)
FUZZ_SRCS:=	$(wildcard regress/fuzz/fuzz_*.c)
FUZZ_PROGS:=	$(FUZZ_SRCS:regress/fuzz/%.c=$(B)/tests/%)
MAILHOST:=	etc/demo/mailhost.sh $(wildcard etc/demo/*.in)
MODULES:=	$(wildcard etc/modules/* etc/execd.d/*.conf)
# test modules and their policies (FX_EXECD_EXTRA), for the tests only
HOSTILE:=	$(wildcard regress/integration/hostile/modules/* \
		regress/integration/hostile/execd.d/*.conf \
		regress/integration/hostile/users)
TEST_DATA:=	$(B)/tests/fixture.sh $(B)/tests/imapc.py $(B)/tests/itlib.sh \
		$(B)/tests/fakerelay.py \
		$(MAILHOST:etc/demo/%=$(B)/tests/mailhost/%) \
		$(MODULES:etc/%=$(B)/tests/%) \
		$(HOSTILE:regress/integration/%=$(B)/tests/%)
BENCH_PROGS:=	$(B)/bin/imapx-bench
BINS:=		$(B)/bin/imapxd $(B)/bin/imapxctl \
		$(if $(wildcard execd/execd.c),$(B)/bin/execd) \
		$(if $(wildcard submitd/submitd.c),$(B)/bin/submitd)
LIBS:=		$(B)/libimapxd.a $(B)/libexecd.a $(B)/libsubmitd.a \
		$(B)/libcommon.a

.PHONY: all check check-normal check-san demo demo-stop install fuzz clean \
	bench man-lint
.SUFFIXES:

all: $(BINS) $(BENCH_PROGS)

$(B)/obj/%.o: %.c $(wildcard common/*.h imapxd/*.h execd/*.h submitd/*.h) \
    $(if $(wildcard imapxd/parse.y),$(B)/gen/parse.h) \
    $(if $(wildcard execd/parse.y),$(B)/gen/execd_parse.h) \
    $(if $(wildcard submitd/parse.y),$(B)/gen/submitd_parse.h)
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -c -o $@ $<

$(B)/gen/parse.c $(B)/gen/parse.h: imapxd/parse.y
	@mkdir -p $(B)/gen
	$(YACC) -d -o $(B)/gen/parse.c imapxd/parse.y

$(B)/obj/imapxd/parse.o: $(B)/gen/parse.c $(wildcard common/*.h imapxd/*.h)
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -Wno-unused-but-set-variable -c -o $@ $<

# execd's grammar gets its own symbol prefix: unit tests link both.
$(B)/gen/execd_parse.c $(B)/gen/execd_parse.h: execd/parse.y
	@mkdir -p $(B)/gen
	$(YACC) -d -p execd_yy -o $(B)/gen/execd_parse.c execd/parse.y

$(B)/obj/execd/parse.o: $(B)/gen/execd_parse.c $(wildcard common/*.h execd/*.h)
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -Wno-unused-but-set-variable -c -o $@ $<

$(B)/libexecd.a: $(EXECD_OBJS)
	rm -f $@; ar rcs $@ $^

$(B)/bin/execd: $(B)/obj/execd/execd.o $(B)/libexecd.a $(B)/libcommon.a
	@mkdir -p $(dir $@)
	$(CC) -o $@ $^ $(LDLIBS)

# submitd's grammar: its own prefix too.
$(B)/gen/submitd_parse.c $(B)/gen/submitd_parse.h: submitd/parse.y
	@mkdir -p $(B)/gen
	$(YACC) -d -p submitd_yy -o $(B)/gen/submitd_parse.c submitd/parse.y

$(B)/obj/submitd/parse.o: $(B)/gen/submitd_parse.c \
    $(wildcard common/*.h submitd/*.h)
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -Wno-unused-but-set-variable -c -o $@ $<

$(B)/libsubmitd.a: $(SUBMITD_OBJS)
	rm -f $@; ar rcs $@ $^

$(B)/bin/submitd: $(B)/obj/submitd/submitd.o $(B)/libsubmitd.a \
    $(B)/libcommon.a
	@mkdir -p $(dir $@)
	$(CC) -o $@ $^ $(LDLIBS)

$(B)/libcommon.a: $(COMMON_OBJS)
	rm -f $@; ar rcs $@ $^

$(B)/libimapxd.a: $(IMAPXD_OBJS)
	rm -f $@; ar rcs $@ $^

$(B)/bin/imapxd: $(B)/obj/imapxd/imapxd.o $(B)/libimapxd.a $(B)/libcommon.a
	@mkdir -p $(dir $@)
	$(CC) -o $@ $^ $(LDLIBS)

$(B)/bin/imapxctl: $(B)/obj/imapxctl/imapxctl.o $(B)/libcommon.a
	@mkdir -p $(dir $@)
	$(CC) -o $@ $^ $(LDLIBS)

$(B)/bin/imapx-bench: regress/bench/imapx-bench.c
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -o $@ $< $(LDLIBS) -lm

$(B)/tests/%_test: regress/unit/%_test.c $(LIBS)
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -o $@ $^ $(LDLIBS) -latf-c

$(B)/tests/%_test: regress/integration/%_test.sh
	@mkdir -p $(dir $@)
	cp $< $@; chmod +x $@

$(B)/tests/fixture.sh: regress/integration/fixture.sh
	@mkdir -p $(dir $@)
	cp $< $@

$(B)/tests/imapc.py: regress/integration/imapc.py
	@mkdir -p $(dir $@)
	cp $< $@

$(B)/tests/fakerelay.py: regress/integration/fakerelay.py
	@mkdir -p $(dir $@)
	cp $< $@; chmod +x $@

$(B)/tests/itlib.sh: regress/integration/itlib.sh
	@mkdir -p $(dir $@)
	cp $< $@

$(B)/tests/mailhost/%: etc/demo/%
	@mkdir -p $(dir $@)
	cp $< $@

$(B)/tests/modules/%: etc/modules/%
	@mkdir -p $(dir $@)
	cp $< $@

$(B)/tests/execd.d/%: etc/execd.d/%
	@mkdir -p $(dir $@)
	cp $< $@

$(B)/tests/hostile/%: regress/integration/hostile/%
	@mkdir -p $(dir $@)
	cp $< $@

# Fuzz targets run as plain tests over their corpus and random inputs;
# `make fuzz` builds the same targets for libFuzzer.
$(B)/tests/fuzz_%: regress/fuzz/fuzz_%.c regress/fuzz/replay.c $(LIBS)
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -DFUZZ_CORPUS=\"$(CURDIR)/regress/fuzz/corpus/$*\" \
	    -o $@ $^ $(LDLIBS)

$(B)/tests/Kyuafile: Makefile $(UNIT_SRCS) $(INTEG_SRCS) $(FUZZ_SRCS)
	@mkdir -p $(dir $@)
	@{ echo "syntax(2)"; echo "test_suite('imapx')"; \
	  for t in $(notdir $(UNIT_PROGS) $(INTEG_PROGS)); do \
	    echo "atf_test_program{name='$$t'}"; done; \
	  for t in $(notdir $(FUZZ_PROGS)); do \
	    echo "plain_test_program{name='$$t'}"; done; } > $@

tests: $(BINS) $(UNIT_PROGS) $(INTEG_PROGS) $(FUZZ_PROGS) $(TEST_DATA) \
    $(B)/tests/Kyuafile
.PHONY: tests

build/Kyuafile:
	@mkdir -p build
	@{ echo "syntax(2)"; echo "test_suite('imapx')"; \
	  echo "include('normal/tests/Kyuafile')"; \
	  echo "include('san/tests/Kyuafile')"; } > $@

check: build/Kyuafile
	$(MAKE) V=normal tests
	$(MAKE) V=san tests
	cd build && kyua test -k Kyuafile; rc=$$?; \
	    if [ $$rc -ne 0 ]; then kyua report --verbose \
	    --results-filter broken,failed | head -400; fi; exit $$rc

fuzz:
	@mkdir -p build/fuzz
	for f in $(FUZZ_SRCS); do \
	    clang $(WARN) -std=gnu11 -D_GNU_SOURCE -g -O1 -Icommon -Iimapxd -Isubmitd \
	    $(PKG_CFLAGS) -fsanitize=fuzzer,address,undefined \
	    -o build/fuzz/$$(basename $$f .c) $$f $(COMMON_SRCS) $(IMAPXD_SRCS) \
	    $(SUBMITD_SRCS) \
	    $(PKG_LIBS) || exit 1; done

demo:
	sh etc/demo/demo.sh deps
	$(MAKE) all
	sh etc/demo/demo.sh start

demo-stop:
	sh etc/demo/demo.sh stop

bench: all
	sh regress/bench/bench.sh

man-lint:
	mandoc -Tlint -Wwarning $(wildcard */*.[58])

install: all
	install -d $(DESTDIR)$(SBINDIR) $(DESTDIR)$(MANDIR)/man8 \
	    $(DESTDIR)$(MANDIR)/man5 $(DESTDIR)$(SYSCONFDIR)
	install -m 0755 $(BINS) $(DESTDIR)$(SBINDIR)/
	install -m 0644 $(wildcard */*.8) $(DESTDIR)$(MANDIR)/man8/
	install -m 0644 $(wildcard */*.5) $(DESTDIR)$(MANDIR)/man5/
	for f in etc/*.conf; do [ -e "$$f" ] || continue; \
	    [ -e $(DESTDIR)$(SYSCONFDIR)/$$(basename $$f) ] || \
	    install -m 0600 $$f $(DESTDIR)$(SYSCONFDIR)/; done
	install -d $(DESTDIR)$(PREFIX)/share/examples/imapx/execd.d \
	    $(DESTDIR)$(LIBEXECDIR)/modules
	install -m 0644 etc/systemd/imapxd.service etc/rc.d/imapxd \
	    $(DESTDIR)$(PREFIX)/share/examples/imapx/
	install -m 0755 $(filter-out etc/modules/README,$(wildcard etc/modules/*)) \
	    $(DESTDIR)$(LIBEXECDIR)/modules/
	install -m 0644 etc/modules/README $(DESTDIR)$(LIBEXECDIR)/modules/
	for f in etc/execd.d/*.conf; do \
	    sed 's|/usr/local/libexec/imapx/modules|$(LIBEXECDIR)/modules|' \
	    $$f >$(DESTDIR)$(PREFIX)/share/examples/imapx/execd.d/$$(basename $$f) \
	    || exit 1; done

clean:
	rm -rf build
