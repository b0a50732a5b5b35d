-- The events view: every record that reached the lake, exactly once, whether its hour is still
-- raw NDJSON, compacted to Parquet, or both (late records). A Parquet file counts once a log line
-- that applies adds it; a raw object counts until a log line that applies replaces it. A line
-- applies to queries that start at or after its effective_at (functions/lake_compactor/README.md).
-- Athena (Trino) and DuckDB both run this text, with ${columns} the column list of lake_tables.json and
-- ${raw}, ${compacted} and ${log} the names of the three tables under the view.
SELECT ${columns}, dt, hour
FROM ${compacted} AS c
WHERE EXISTS (
    SELECT 1
    FROM ${log} AS l
    WHERE l.dt = c.dt
      AND l.hour = c.hour
      AND l.action = 'add'
      AND l.file = c."$path"
      AND CAST(l.effective_at AS timestamp) <= CAST(current_timestamp AS timestamp)
)
UNION ALL
SELECT ${columns}, dt, hour
FROM ${raw} AS r
WHERE NOT EXISTS (
    SELECT 1
    FROM ${log} AS l
    WHERE l.dt = r.dt
      AND l.hour = r.hour
      AND l.action = 'replace'
      AND l.file = r."$path"
      AND CAST(l.effective_at AS timestamp) <= CAST(current_timestamp AS timestamp)
)
