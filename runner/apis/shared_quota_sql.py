"""The SQL of the shared quota budgets (:mod:`runner.apis.shared_quotas`): one round trip takes
what a process may send now, or says when the next slot frees; times are the database's clock."""

ENSURE = "INSERT INTO quota_buckets (tenant, bucket) VALUES (%s, %s) ON CONFLICT DO NOTHING"
LOCK = "SELECT 1 FROM quota_buckets WHERE tenant = %s AND bucket = %s FOR UPDATE"
TAKE = """
WITH clock AS (SELECT extract(epoch FROM clock_timestamp())::float8 AS now),
paused AS (
    SELECT CASE WHEN %(after_pause)s THEN 0 ELSE paused_until END AS until, paused_until
    FROM quota_buckets WHERE tenant = %(tenant)s AND bucket = %(bucket)s
),
windows AS (
    SELECT w.n, w.span, (
        SELECT count(*) FROM quota_calls q
        WHERE q.tenant = %(tenant)s AND q.bucket = %(bucket)s AND q.at > (SELECT now FROM clock) - w.span
    ) AS used
    FROM unnest(%(counts)s::int[], %(spans)s::float8[]) AS w(n, span)
),
room AS (
    SELECT CASE WHEN (SELECT until FROM paused) > (SELECT now FROM clock) THEN 0
                ELSE greatest(0, least(%(want)s, min(n - used))) END AS k
    FROM windows
),
free AS (
    SELECT greatest(max(c.at + w.span), (SELECT until FROM paused)) AS at
    FROM unnest(%(counts)s::int[], %(spans)s::float8[]) AS w(n, span)
    LEFT JOIN LATERAL (
        SELECT q.at FROM quota_calls q
        WHERE q.tenant = %(tenant)s AND q.bucket = %(bucket)s AND q.at > (SELECT now FROM clock) - w.span
        ORDER BY q.at DESC OFFSET w.n - 1 LIMIT 1) c ON true
),
pruned AS (
    DELETE FROM quota_calls
    WHERE tenant = %(tenant)s AND bucket = %(bucket)s AND at <= (SELECT now FROM clock) - %(longest)s
),
granted AS (
    INSERT INTO quota_calls (tenant, bucket, at)
    SELECT %(tenant)s, %(bucket)s, clock.now FROM clock, room, generate_series(1, room.k)
    RETURNING id
)
SELECT clock.now, free.at, (SELECT array_agg(id ORDER BY id) FROM granted), (SELECT paused_until FROM paused)
FROM clock, free
"""
USAGE = """
SELECT (SELECT count(*) FROM quota_calls q WHERE q.tenant = %(tenant)s AND q.bucket = %(bucket)s
        AND q.at > extract(epoch FROM clock_timestamp()) - w.span)
FROM unnest(%(spans)s::float8[]) WITH ORDINALITY AS w(span, i) ORDER BY w.i
"""
# answers, and calls still on their way (renewed): counted from now
ANSWERED = "UPDATE quota_calls SET at = greatest(at, extract(epoch FROM clock_timestamp())) WHERE id = ANY(%s)"
PAUSE = """UPDATE quota_buckets SET paused_until = greatest(paused_until, extract(epoch FROM clock_timestamp()) + %s)
WHERE tenant = %s AND bucket = %s"""
