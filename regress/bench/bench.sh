#!/bin/sh
#
# bench.sh -- measure the IMAP backend directly and through imapxd in one
# run and print each figure for both, the ratio proxy/direct and whether
# its target is met; SUBMIT against SMTP straight to the MTA likewise.
# See regress/bench/README.md.
#
# Every setting below can be overridden from the environment, e.g.
#	DIRECT=127.0.0.1:10143 PROXY=127.0.0.1:1143 ROUNDS=1 sh bench.sh

set -u

top=$(cd "$(dirname "$0")/../.." && pwd)

: "${V:=normal}"
: "${BENCH:=$top/build/$V/bin/imapx-bench}"
: "${DIRECT:=127.0.0.1:10143}"		# the backend (demo Dovecot)
: "${PROXY:=127.0.0.1:1143}"		# imapxd, plaintext
: "${PROXY_TLS=127.0.0.1:1993}"	# imapxd, implicit TLS; empty: skip
: "${PROXY_STARTTLS:=auto}"	# 1: always, auto: if plaintext LOGIN fails
: "${FLOOR=127.0.0.1:19143}"	# yardstick relay; empty: skip
: "${BENCH_USER:=alice}"
: "${BENCH_PASS:=alice-secret}"
: "${LOAD_PREFIX:=load}"
: "${LOAD_DIGITS:=4}"
: "${LOAD_USERS:=2000}"
: "${LOAD_PASS:=load-secret}"
: "${NOOP_N:=20000}"
: "${NOOP_WARMUP:=1000}"
: "${LOGIN_CLIENTS:=32}"
: "${LOGIN_SECS:=10}"
: "${FETCH_USER:=load2000}"
: "${FETCH_MBOX:=bench}"
: "${FETCH_SIZE:=20M}"
: "${FETCH_RUNS:=5}"
: "${PIPE_BATCH:=100}"
: "${PIPE_BATCHES:=2000}"
: "${IDLE_N:=2000}"
: "${IDLE_CLIENTS:=32}"
: "${IDLE_SETTLE:=3}"
: "${IMAPXD_PIDFILE=}"		# else: the holders of PROXY's listener
: "${XEXEC_PROGRAM:=${IMAPX_DEMO_DIR:-/tmp/imapx-demo}/modules/echo}"
: "${XEXEC_N:=2000}"
: "${XEXEC_WARMUP:=50}"
: "${XEXEC_CLIENTS:=20}"
: "${XEXEC_SECS:=10}"
: "${SMTP=127.0.0.1:10025}"		# the MTA (demo OpenSMTPD); empty: skip
: "${SMTP_FLOOR=127.0.0.1:19025}"	# byte copier to the MTA; empty: skip
: "${SUBMIT_SIZES:=2k 1M}"
: "${SUBMIT_CLIENTS:=1 16}"
: "${SUBMIT_SECS:=1}"		# each figure's window; the MTA's deliveries
: "${SUBMIT_WARMUP:=0.5}"		# are waited for after it, and take longer
: "${SUBMIT_ROUNDS:=2}"		# per case, each kind of sending
: "${ROUNDS:=3}"			# direct/proxy pairs per figure, ABBA
: "${CLIENT_CPU=0}"		# pin single-connection clients; empty: no
: "${TESTS:=latency logins fetch pipeline idle xexec submit}"
: "${TLS_TESTS:=latency logins fetch pipeline}"
: "${NO_DEMO:=0}"			# 1: never start the demo
: "${STRICT:=0}"			# 1: exit 1 when a target is missed
: "${RESULTS=}"			# keep the raw "path name value" lines

log()
{
	echo "bench: $*" >&2
}

die()
{
	log "$*"
	exit 1
}

tmp=$(mktemp -d "${TMPDIR:-/tmp}/imapx-bench.XXXXXX") || exit 1
relay_pid=
copier_pid=
cleanup()
{
	[ -n "$relay_pid" ] && kill "$relay_pid" 2>/dev/null
	[ -n "$copier_pid" ] && kill "$copier_pid" 2>/dev/null
	rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 130' INT TERM
raw=${RESULTS:-$tmp/raw}

load="-U $LOAD_PREFIX -D $LOAD_DIGITS -N $LOAD_USERS -P $LOAD_PASS"
pin=
[ -n "$CLIENT_CPU" ] && pin="-C $CLIENT_CPU"

# run PATH LABEL ADDR-OPTIONS -- tool arguments: append "PATH name value"
# lines to the raw file; a failing run leaves its figures out.
run()
{
	_path=$1
	_label=$2
	shift 2
	log "$_label: $_path"
	if ! "$BENCH" "$@" > "$tmp/out" 2> "$tmp/err"; then
		log "$_label on $_path failed: $(tail -n 3 "$tmp/err")"
	fi
	sed "s/^/$_path /; ${run_sed:-}" "$tmp/out" >> "$raw"
}

# opts PATH: the tool's address and TLS options for a path.
opts()
{
	case $1 in
	direct)	echo "-a $DIRECT" ;;
	proxy)	if [ "$proxy_stls" = 1 ]; then
			echo "-a $PROXY -S"
		else
			echo "-a $PROXY"
		fi ;;
	tls)	echo "-a $PROXY_TLS -T" ;;
	relay)	echo "-a $FLOOR" ;;
	esac
}

# figure PATH TEST: one measurement of one figure on one path.
figure()
{
	_o=$(opts "$1")
	case $2 in
	latency)
		# shellcheck disable=SC2086
		run "$1" "NOOP latency" $_o latency $pin \
		    -u "$BENCH_USER" -p "$BENCH_PASS" \
		    -n "$NOOP_N" -w "$NOOP_WARMUP" ;;
	logins)
		# shellcheck disable=SC2086
		run "$1" "logins" $_o logins $load \
		    -c "$LOGIN_CLIENTS" -t "$LOGIN_SECS" ;;
	fetch)
		# shellcheck disable=SC2086
		run "$1" "FETCH" $_o fetch $pin \
		    -u "$FETCH_USER" -p "$LOAD_PASS" -m "$FETCH_MBOX" \
		    -r "$FETCH_RUNS" ;;
	pipeline)
		# shellcheck disable=SC2086
		run "$1" "pipelined NOOPs" $_o pipeline $pin \
		    -u "$BENCH_USER" -p "$BENCH_PASS" \
		    -b "$PIPE_BATCH" -n "$PIPE_BATCHES" ;;
	xexec)
		# Not pinned: execd's module runs are not either, and the
		# bare fork+exec beside them must not be.
		# shellcheck disable=SC2086
		run "$1" "XEXEC echo x and fork+exec" $_o xexec \
		    -u "$BENCH_USER" -p "$BENCH_PASS" -E "$XEXEC_PROGRAM" \
		    -n "$XEXEC_N" -w "$XEXEC_WARMUP"
		# shellcheck disable=SC2086
		run "$1" "XEXEC runs/s" $_o xexecs $load \
		    -c "$XEXEC_CLIENTS" -t "$XEXEC_SECS" ;;
	esac
}

# mail KIND SIZE CLIENTS: one figure of the SUBMIT table.  KIND submit:
# SUBMIT through imapxd; keep: SMTP to the MTA, one connection per
# client (as submitd keeps its own); conn: SMTP, a connection for each
# message.  Each waits until what it sent is delivered, then expunges it.
mail()
{
	_k=$1 _sz=$2 _n=$3
	shift 3
	case $_k in
	submit)	_o="$(opts proxy) submit"
		# imapxd's processes, for their CPU time, found as idle does
		[ -n "$IMAPXD_PIDFILE" ] && set -- -f "$IMAPXD_PIDFILE" ;;
	conn)	_o="-a $SMTP smtp -M" ;;
	keep)	_o="-a $SMTP smtp" ;;
	# the yardstick: keep's SMTP through imapx-bench relay
	copy)	_o="-a $SMTP_FLOOR smtp" run_sed='s/ smtp_/ smtpcopy_/' ;;
	esac
	# shellcheck disable=SC2086
	run "mail-$_sz-$_n" "$_k $_sz x $_n" $_o $load -c "$_n" -s "$_sz" \
	    -t "$SUBMIT_SECS" -q "$SUBMIT_WARMUP" -I "$DIRECT" "$@"
	run_sed=
}

# probe PATH: does the path greet us and let BENCH_USER in?
probe()
{
	# shellcheck disable=SC2046
	"$BENCH" probe $(opts "$1") -W 5 -u "$BENCH_USER" -p "$BENCH_PASS" \
	    > /dev/null 2> "$tmp/err"
}

has()
{
	case " $1 " in
	*" $2 "*) return 0 ;;
	esac
	return 1
}

# report FILE: the table, from the "path name value" lines of a run.
report()
{
	awk '
function isort(a, n,	i, j, x) {
	for (i = 2; i <= n; i++) {
		x = a[i]
		for (j = i - 1; j >= 1 && a[j] > x; j--)
			a[j + 1] = a[j]
		a[j + 1] = x
	}
}
# One value per path and name: the median over the rounds, the maximum
# for worst cases, the sum for error counts.
function agg(key,	n, i, a, parts, s) {
	if (!(key in vals))
		return ""
	n = split(vals[key], parts, " ")
	if (n == 0)
		return ""
	for (i = 1; i <= n; i++)
		a[i] = parts[i] + 0
	isort(a, n)
	if (key ~ /_max_/)
		return a[n]
	if (key ~ /(errors|refused|failed|dropped|stalled|undelivered)$/) {
		s = 0
		for (i = 1; i <= n; i++)
			s += a[i]
		return s
	}
	if (n % 2)
		return a[(n + 1) / 2]
	return (a[n / 2] + a[n / 2 + 1]) / 2
}
# The value of each round, in the order measured: a round that stands
# out (a scheduler placement, another job on the machine) shows here.
function rounds(name, paths,	n, i, p, line) {
	n = split(paths, p, " ")
	line = ""
	for (i = 1; i <= n; i++)
		if ((p[i], name) in vals)
			line = line sprintf("  %s%s", p[i], vals[p[i], name])
	if (line != "")
		printf "  per round:%s\n", line
}
function v(path, name) {
	return agg(path SUBSEP name)
}
# fmt X [DECIMALS]: a value for the table, "-" if there is none.
function fmt(x, dec) {
	if (x == "")
		return "-"
	if (dec != "")
		return sprintf("%." dec "f", x)
	if (x >= 10000)
		return sprintf("%.0f", x)
	return sprintf("%.1f", x)
}
# row LABEL PATH-A PATH-B NAME OP TARGET [STRETCH]: NAME on two paths;
# row2 LABEL PATH-A NAME-A PATH-B NAME-B OP TARGET [STRETCH [DECIMALS]]:
# two names.
function meets(r, op, target) {
	if (op == "<=")
		return r <= target
	return r >= target
}
function row(label, pa, pb, name, op, target, stretch) {
	row2(label, pa, name, pb, name, op, target, stretch)
}
function row2(label, pa, na, pb, nb, op, target, stretch, dec,
    a, b, r, res) {
	a = v(pa, na)
	b = v(pb, nb)
	r = ""
	if (a != "" && b != "" && a > 0)
		r = b / a
	if (r == "" || op == "")
		res = (a == "" || b == "") ? "n/a" : "info"
	else {
		res = "met"
		if (!meets(r, op, target)) {
			res = "MISSED"
			missed++
		}
		if (stretch != "")
			res = res sprintf(" (stretch %.2f: %s)", stretch,
			    meets(r, op, stretch) ? "met" : "no")
	}
	printf "%-34s %10s %10s %7s  %-9s %s\n", label, fmt(a, dec),
	    fmt(b, dec), r == "" ? "-" : sprintf("%.3f", r),
	    op == "" ? "-" : op " " sprintf("%.2f", target), res
}
$1 == "meta" {
	m = $0
	sub(/^meta [^ ]* /, "", m)
	meta[$2] = m
	next
}
{
	key = $1 SUBSEP $2
	vals[key] = vals[key] " " $3
	if ($1 ~ /^mail-/ && !seen[$1])
		mails[++nmail] = $1
	seen[$1] = 1
}
END {
	printf "imapx bench, %s; %s CPUs, load %s; median of %s round(s)\n",
	    meta["when"], meta["ncpu"], meta["load"], meta["rounds"]
	pnote = ""
	if (!seen["proxy"])
		pnote = " (not measured)"
	else if (meta["proxy_starttls"] == 1)
		pnote = " over STARTTLS (not plaintext)"
	printf "direct %s, proxy %s%s\n\n", meta["direct"], meta["proxy"],
	    pnote
	printf "%-34s %10s %10s %7s  %-9s %s\n", "figure", "direct", "proxy",
	    "ratio", "target", "result"
	row("NOOP round trip p50 (us)", "direct", "proxy", "noop_p50_us",
	    "<=", 1.10, 1.08)
	rounds("noop_p50_us", "direct proxy relay tls")
	row("NOOP round trip p99 (us)", "direct", "proxy", "noop_p99_us")
	n = v("direct", "logins_clients")
	row("logins/s" (n == "" ? "" : " (" n " clients)"),
	    "direct", "proxy", "logins_per_s", ">=", 0.95)
	row("login p50 (ms)", "direct", "proxy", "login_p50_ms")
	mib = v("direct", "fetch_bytes")
	row("FETCH " (mib == "" ? "" : fmt(mib / 1048576) " MiB, ") \
	    "best MB/s", "direct", "proxy", "fetch_best_mbps", ">=", 0.90)
	row("FETCH median MB/s", "direct", "proxy", "fetch_median_mbps")
	row("pipelined NOOPs/s", "direct", "proxy", "pipe_ops_per_s", ">=",
	    0.90)
	n = v("direct", "pipe_batch_size")
	row("slowest batch" (n == "" ? "" : " of " n) " (ms)",
	    "direct", "proxy", "pipe_batch_max_ms")
	b = v("proxy", "pipe_batch_max_ms")
	if (b != "") {
		ok = b <= 5
		if (!ok)
			missed++
		printf "%-34s %10s %10s %7s  %-9s %s\n",
		    "  proxy slowest batch", "", fmt(b), "-", "<= 5 ms",
		    ok ? "met" : "MISSED"
		if (v("direct", "pipe_batch_max_ms") > 5)
			print "  (the direct path has batches over 5 ms too:" \
			    " the machine is not quiet)"
	}
	b = v("proxy", "idle_pss_kib_per_conn")
	if (b != "") {
		ok = b <= 8
		if (!ok)
			missed++
		printf "%-34s %10s %10s %7s  %-9s %s\n",
		    "idle KiB/connection (Pss)", "-", fmt(b), "-", "<= 8",
		    ok ? "met" : "MISSED"
		printf "%-34s %10s %10s %7s  %-9s %s\n",
		    "idle KiB/connection (Rss)", "-",
		    fmt(v("proxy", "idle_rss_kib_per_conn")), "-", "-", "info"
		printf "%-34s %10s %10s %7s  %-9s %s\n",
		    "  second half alone (Pss)", "-",
		    fmt(v("proxy", "idle_pss_kib_per_conn_2nd_half")), "-",
		    "-", "info"
		printf "  %d of %d connections idle; %d imapxd processes;" \
		    " Pss %d -> %d KiB\n", v("proxy", "idle_open"),
		    v("proxy", "idle_requested"),
		    v("proxy", "idle_procs_after"),
		    v("proxy", "mem_pss_before_kib"),
		    v("proxy", "mem_pss_after_kib")
	} else if (seen["proxy"] && v("proxy", "idle_requested") != "")
		print "idle KiB/connection: not measured (no imapxd" \
		    " processes found; set IMAPXD_PIDFILE)"
	for (k in vals) {
		split(k, kk, SUBSEP)
		if (kk[2] ~ /(errors|refused|failed|dropped|stalled|undelivered)$/ &&
		    agg(k) > 0)
			printf "  note: %s %s %d\n", kk[1], kk[2], agg(k)
	}
	if (seen["relay"]) {
		printf "\nyardstick: imapx-bench relay on %s, a one-process" \
		    " poll(2) byte copier\n", meta["floor"]
		printf "%-34s %10s %10s %7s  %-9s %s\n", "figure", "direct",
		    "relay", "ratio", "target", "result"
		row("NOOP round trip p50 (us)", "direct", "relay",
		    "noop_p50_us")
		row("NOOP round trip p99 (us)", "direct", "relay",
		    "noop_p99_us")
		if (v("relay", "pipe_ops_per_s") != "")
			row("pipelined NOOPs/s", "direct", "relay",
			    "pipe_ops_per_s")
		a = v("relay", "noop_p50_us")
		b = v("proxy", "noop_p50_us")
		if (a > 0 && b != "")
			printf "  imapxd p50 / relay p50: %.3f\n", b / a
		a = v("relay", "pipe_ops_per_s")
		b = v("proxy", "pipe_ops_per_s")
		if (a > 0 && b != "")
			printf "  imapxd pipelined / relay pipelined: %.3f\n", b / a
	}
	if (v("proxy", "xexec_p50_us") != "" ||
	    v("proxy", "xexecs_runs_per_s") != "") {
		printf "\nXEXEC: \"XEXEC echo x\" through imapxd and execd" \
		    " against fork+exec+wait of\n%s x\n", meta["xexec_program"]
		printf "%-34s %10s %10s %7s  %-9s %s\n", "figure", "spawn",
		    "xexec", "ratio", "target", "result"
		row2("round trip p50 (us)", "proxy", "spawn_p50_us", "proxy",
		    "xexec_p50_us", "<=", 1.50)
		if (("proxy", "xexec_p50_us") in vals)
			printf "  per round: spawn%s  xexec%s\n",
			    vals["proxy", "spawn_p50_us"],
			    vals["proxy", "xexec_p50_us"]
		row2("round trip p90 (us)", "proxy", "spawn_p90_us", "proxy",
		    "xexec_p90_us")
		row2("round trip p99 (us)", "proxy", "spawn_p99_us", "proxy",
		    "xexec_p99_us")
		n = v("proxy", "xexecs_clients")
		b = v("proxy", "xexecs_runs_per_s")
		printf "%-34s %10s %10s %7s  %-9s %s\n", "runs/s" \
		    (n == "" ? "" : " (" n " sessions)"), "-", fmt(b), "-", "-",
		    b == "" ? "n/a" : "info"
		if (("proxy", "xexecs_runs_per_s") in vals)
			printf "  per round:%s\n", vals["proxy", "xexecs_runs_per_s"]
		printf "%-34s %10s %10s %7s  %-9s %s\n",
		    "  round trip p50 at that load (ms)", "-",
		    fmt(v("proxy", "xexecs_p50_ms")), "-", "-", "info"
	}
	if (seen["tls"]) {
		printf "\nTLS: imapxd on %s against the plaintext backend" \
		    " (no target)\n", meta["proxy_tls"]
		printf "%-34s %10s %10s %7s  %-9s %s\n", "figure", "direct",
		    "tls", "ratio", "target", "result"
		row("NOOP round trip p50 (us)", "direct", "tls", "noop_p50_us")
		row("NOOP round trip p99 (us)", "direct", "tls", "noop_p99_us")
		row("logins/s", "direct", "tls", "logins_per_s")
		row("FETCH best MB/s", "direct", "tls", "fetch_best_mbps")
		row("pipelined NOOPs/s", "direct", "tls", "pipe_ops_per_s")
		row("slowest batch (ms)", "direct", "tls", "pipe_batch_max_ms")
	}
	if (nmail > 0) {
		printf "\nSUBMIT: messages/s through imapxd and submitd to the" \
		    " MTA on %s against\nthe same messages by SMTP straight to" \
		    " it, on one connection per client (as\nsubmitd keeps its" \
		    " own), and on a new connection for each message\n",
		    meta["smtp"]
		if (meta["smtp_floor"] != "")
			printf "(\"through a byte copier\": the same SMTP" \
			    " through imapx-bench relay on %s,\none process" \
			    " copying bytes with read and write: what one" \
			    " hop costs here)\n", meta["smtp_floor"]
		if (meta["submit_sent"] != "")
			printf "(submitd kept a copy of each message in %s: an" \
			    " APPEND that direct SMTP does not make)\n",
			    meta["submit_sent"]
		printf "%-34s %10s %10s %7s  %-9s %s\n", "figure", "direct",
		    "SUBMIT", "ratio", "target", "result"
	}
	for (i = 1; i <= nmail; i++) {
		c = mails[i]
		split(c, cp, "-")
		n = cp[3]
		label = cp[2] ", " n " client" (n == 1 ? "" : "s")
		row2(label " msgs/s", c, "smtp_msgs_per_s", c,
		    "submit_msgs_per_s", ">=", 0.90)
		if ((c, "submit_msgs_per_s") in vals)
			printf "  per round: direct%s  SUBMIT%s\n",
			    vals[c, "smtp_msgs_per_s"],
			    vals[c, "submit_msgs_per_s"]
		row2("  direct, a connection each", c,
		    "smtpconn_msgs_per_s", c, "submit_msgs_per_s")
		if ((c, "smtpconn_msgs_per_s") in vals)
			printf "  per round: direct%s\n",
			    vals[c, "smtpconn_msgs_per_s"]
		row2("  SMTP through a byte copier", c, "smtp_msgs_per_s", c,
		    "smtpcopy_msgs_per_s")
		if ((c, "smtpcopy_msgs_per_s") in vals)
			printf "  per round: copier%s\n",
			    vals[c, "smtpcopy_msgs_per_s"]
		row2("  delivered/s, whole run", c, "smtp_delivered_per_s", c,
		    "submit_delivered_per_s")
		row2("  p50 per message (ms)", c, "smtp_p50_ms", c,
		    "submit_p50_ms")
		row2("  p50, a connection each (ms)", c, "smtpconn_p50_ms", c,
		    "submit_p50_ms")
		row2("  MTA CPU per message (ms)", c, "smtp_mta_cpu_ms_per_msg",
		    c, "submit_mta_cpu_ms_per_msg", "", "", "", 3)
		b = v(c, "submit_proxy_cpu_ms_per_msg")
		printf "%-34s %10s %10s %7s  %-9s %s\n",
		    "  imapxd+submitd CPU/message (ms)", "-", fmt(b, 3), "-",
		    "-", b == "" ? "n/a" : "info"
	}
	if (seen["proxy"] || nmail > 0)
		printf "\ntargets missed: %d\n", missed
	exit (meta["strict"] == 1 && missed > 0)
}' "$1"
}

# REPORT=FILE prints the table of an earlier run kept with RESULTS=FILE.
if [ -n "${REPORT:-}" ]; then
	report "$REPORT"
	exit
fi
: > "$raw" || exit 1

if [ ! -x "$BENCH" ]; then
	log "building $BENCH"
	make -C "$top" "build/$V/bin/imapx-bench" >&2 ||
	    die "cannot build imapx-bench"
fi

# ---- what is there to measure

if ! probe direct; then
	if [ "$NO_DEMO" != 1 ] && [ -f "$top/etc/demo/demo.sh" ] &&
	    [ "$DIRECT" = 127.0.0.1:10143 ]; then
		log "$DIRECT does not answer: starting the demo (make demo)"
		# no Sent copy: direct SMTP, which SUBMIT is compared with,
		# makes none
		IMAPX_DEMO_SENT= make -C "$top" demo >&2 ||
		    die "make demo failed"
		i=0
		while ! probe direct && [ $i -lt 30 ]; do
			sleep 1
			i=$((i + 1))
		done
	fi
	probe direct || die "backend $DIRECT: $(cat "$tmp/err");" \
	    "start the demo first (make demo) or set DIRECT"
fi

paths=direct
proxy_stls=0
[ "$PROXY_STARTTLS" = 1 ] && proxy_stls=1
if probe proxy; then
	paths="direct proxy"
elif [ "$PROXY_STARTTLS" = auto ] && proxy_stls=1 && probe proxy; then
	paths="direct proxy"
	log "proxy $PROXY refuses LOGIN in plaintext: its figures are" \
	    "measured over STARTTLS"
else
	proxy_stls=0
	log "proxy $PROXY does not answer or refuses LOGIN" \
	    "($(cat "$tmp/err")): proxy figures skipped"
fi
tls=
if [ -n "$PROXY_TLS" ] && [ -n "$TLS_TESTS" ]; then
	if probe tls; then
		tls=yes
	else
		log "TLS proxy $PROXY_TLS does not answer" \
		    "($(cat "$tmp/err")): TLS figures skipped"
	fi
fi
if [ -n "$FLOOR" ] && has "$TESTS" latency; then
	"$BENCH" relay -a "$DIRECT" -l "$FLOOR" -n 64 -t 3600 \
	    > "$tmp/relay" 2>&1 &
	relay_pid=$!
	sleep 0.3
	if ! probe relay; then
		log "relay yardstick on $FLOOR failed: $(cat "$tmp/relay")"
		kill "$relay_pid" 2>/dev/null
		relay_pid=
	fi
fi

ncpu=$(getconf _NPROCESSORS_ONLN 2>/dev/null || echo 1)
read -r load1 _ < /proc/loadavg
if awk -v l="$load1" -v n="$ncpu" 'BEGIN { exit !(l > 0.5 * n) }'; then
	log "warning: load average $load1 on $ncpu CPUs; other work on" \
	    "this machine makes the figures noisy"
fi

# ---- set-up: the FETCH message, appended once over the direct path

if has "$TESTS" fetch; then
	log "FETCH set-up: one $FETCH_SIZE message in $FETCH_USER/$FETCH_MBOX"
	if ! "$BENCH" append -a "$DIRECT" -u "$FETCH_USER" -p "$LOAD_PASS" \
	    -m "$FETCH_MBOX" -s "$FETCH_SIZE" > "$tmp/out" 2> "$tmp/err"; then
		log "append failed: $(cat "$tmp/err"); FETCH skipped"
		TESTS=$(echo "$TESTS" | sed 's/fetch//')
		TLS_TESTS=$(echo "$TLS_TESTS" | sed 's/fetch//')
	fi
fi

# ---- idle memory first, while imapxd's heap holds as little freed memory
# from earlier sessions as it can: memory it reuses does not show as growth.

if has "$TESTS" idle; then
	if has "$paths" proxy; then
		set -- -n "$IDLE_N" -c "$IDLE_CLIENTS" -q "$IDLE_SETTLE"
		[ -n "$IMAPXD_PIDFILE" ] && set -- "$@" -f "$IMAPXD_PIDFILE"
		# shellcheck disable=SC2046,SC2086
		run proxy "idle memory ($IDLE_N connections)" \
		    $(opts proxy) idle $load "$@"
		# Let the backend reap its sessions before the next figure.
		sleep 3
	else
		log "idle memory is measured through imapxd only: skipped"
	fi
fi

# ---- the figures: direct and proxy back to back, ABBA over the rounds

for t in latency logins fetch pipeline; do
	has "$TESTS" "$t" || continue
	r=1
	while [ "$r" -le "$ROUNDS" ]; do
		if [ $((r % 2)) = 1 ]; then
			order=$paths
		else
			order=$(echo "$paths" | awk '{ for (i = NF; i; i--)
			    printf "%s%s", $i, (i > 1 ? " " : "\n") }')
		fi
		for p in $order; do
			figure "$p" "$t"
		done
		if [ -n "$relay_pid" ] &&
		    { [ "$t" = latency ] || [ "$t" = pipeline ]; }; then
			figure relay "$t"
		fi
		if [ -n "$tls" ] && has "$TLS_TESTS" "$t"; then
			figure tls "$t"
		fi
		r=$((r + 1))
	done
done

# ---- XEXEC, through imapxd only: its round trip against a bare
# fork+exec of the module's program, in the same run of the tool

if has "$TESTS" xexec; then
	if ! has "$paths" proxy; then
		log "XEXEC is measured through imapxd only: skipped"
	elif [ ! -x "$XEXEC_PROGRAM" ]; then
		log "no echo module at $XEXEC_PROGRAM (set XEXEC_PROGRAM):" \
		    "XEXEC skipped"
	else
		r=1
		while [ "$r" -le "$ROUNDS" ]; do
			figure proxy xexec
			r=$((r + 1))
		done
	fi
fi

# ---- SUBMIT, against the same messages sent to the MTA by SMTP: for each
# size and number of clients, the three ways in turn, the order reversed
# every other round

if has "$TESTS" submit; then
	if ! has "$paths" proxy; then
		log "SUBMIT is measured through imapxd only: skipped"
	elif [ -z "$SMTP" ]; then
		log "no MTA address (SMTP): SUBMIT skipped"
	else
		sentbox=$(sed -n 's/^sent "\(.*\)"$/\1/p' \
		    "${IMAPX_DEMO_DIR:-/tmp/imapx-demo}/submitd.conf" \
		    2>/dev/null | tail -n 1)
		if [ -n "$sentbox" ]; then
			log "submitd keeps a Sent copy ($sentbox): each SUBMIT" \
			    "also APPENDs, which direct SMTP does not; for the" \
			    "comparison of the target: make demo-stop;" \
			    "IMAPX_DEMO_SENT= make demo"
			echo "meta submit_sent $sentbox" >> "$raw"
		fi
		copy=
		if [ -n "$SMTP_FLOOR" ]; then
			"$BENCH" relay -a "$SMTP" -l "$SMTP_FLOOR" -n 64 \
			    -t 3600 > "$tmp/copier" 2>&1 &
			copier_pid=$!
			sleep 0.3
			copy=copy
			echo "meta smtp_floor $SMTP_FLOOR" >> "$raw"
		fi
		for sz in $SUBMIT_SIZES; do
			for n in $SUBMIT_CLIENTS; do
				r=1
				while [ "$r" -le "$SUBMIT_ROUNDS" ]; do
					if [ $((r % 2)) = 1 ]; then
						order="submit conn keep $copy"
					else
						order="$copy keep conn submit"
					fi
					for k in $order; do
						mail "$k" "$sz" "$n"
					done
					r=$((r + 1))
				done
			done
		done
	fi
fi

# ---- the table

now=$(date -u '+%Y-%m-%d %H:%M:%S UTC')
{
	echo "meta when $now"
	echo "meta ncpu $ncpu"
	echo "meta load $load1"
	echo "meta rounds $ROUNDS"
	echo "meta direct $DIRECT"
	echo "meta proxy $PROXY"
	echo "meta proxy_starttls $proxy_stls"
	echo "meta proxy_tls $PROXY_TLS"
	echo "meta floor $FLOOR"
	echo "meta xexec_program $XEXEC_PROGRAM"
	echo "meta smtp $SMTP"
	echo "meta strict $STRICT"
} >> "$raw"
report "$raw"
