#!/usr/bin/env bash
# Integration: the openid rule's two forms agree. Its C form (openid.c,
# what the worker refuses) and its SQL form (OPENID_SQL_REFUSED, what
# regonce-migrate scans for) judge the same samples (tests/openid_samples.h)
# on the real MariaDB; a known-bad SQL form first shows the test can fail.
# Needs only the database, no pool.
. "$REGONCE_SRCDIR/tests/lib.sh"

FORMS="$REGONCE_BUILDDIR/tests/openid-forms"
SAMPLES=$("$FORMS" -n)

# verdicts [-b]: "n<TAB>name<TAB>C verdict<TAB>SQL verdict" per sample.
verdicts() {
	"$FORMS" "$@" | mariadb --no-defaults --socket="$REGONCE_IT_DB_SOCKET" \
		-u root -N -B regonce
}

# Negative control: a form that lets a space through must disagree.
BAD=$(verdicts -b | awk -F'\t' '$3 != $4' | cut -f2)
is "$BAD" "space" "a known-bad SQL form (space allowed) disagrees on the space sample"

OUT=$(verdicts)
is "$(wc -l <<<"$OUT")" "$SAMPLES" "MariaDB judged all $SAMPLES samples"
while IFS=$'\t' read -r n name c_refused sql_refused; do
	is "$sql_refused" "$c_refused" "sample $n ($name): SQL form and C form agree (refused=$c_refused)"
done <<<"$OUT"
done_testing
