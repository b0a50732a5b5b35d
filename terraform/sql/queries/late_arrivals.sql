-- Records that reached Kinesis after their event-time hour had closed, per hour over the last seven days:
-- how many, how many more than an hour late, and the latest (minutes after the hour's end).
SELECT
    dt,
    hour,
    count(*) AS late_records,
    sum(CASE WHEN lateness_seconds >= 3600 THEN 1 ELSE 0 END) AS over_an_hour_late,
    CAST(floor(max(lateness_seconds) / 60.0) AS bigint) AS max_minutes_late
FROM (
    SELECT
        dt,
        hour,
        date_diff(
            'second',
            CAST(replace(substr(time, 1, 13), 'T', ' ') || ':00:00' AS timestamp) + INTERVAL '1' HOUR,
            CAST(replace(substr(ingest_time, 1, 19), 'T', ' ') AS timestamp)
        ) AS lateness_seconds
    FROM events
    WHERE dt >= CAST(CAST(current_date - INTERVAL '7' DAY AS date) AS varchar)
) AS arrivals
WHERE lateness_seconds > 0
GROUP BY dt, hour
ORDER BY dt, hour
